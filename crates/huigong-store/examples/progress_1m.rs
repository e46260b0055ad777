//! Benchmark of the live progress report (进度通报) over a large county: generates
//! `BENCH_MEMBERS` members (1,000,000 by default) directly through the store's entities —
//! 20 districts, 100 grassroots unions each, people sealed with a fresh key ring, memberships,
//! 60 % of them with an activated card, 1 % with an incomplete record, a few hundred pending
//! — into `BENCH_DATABASE_URL` (migrated first), stamped a day ago (a county's data is
//! older than the counters' refresh overlap), then times `huigong_store::reports::progress`
//! for the current month: the first report (which counts everything into the maintained
//! counters), the steady state county-wide and for one district, and a report right after a
//! write (one union recounted), and prints the figures. Run by `tests/bench-reports.sh` on both backends. Asserts nothing
//! about timing.

use chrono::Utc;
use huigong_core::period::Month;
use huigong_store::db::DatabaseOptions;
use huigong_store::entity::{card, membership, org, person, unit};
use huigong_store::sealed::{
    ORGS_LEADER_NAME, ORGS_PHONE, PEOPLE_ID_NUMBER, PEOPLE_MOBILE, PEOPLE_NAME,
};
use huigong_store::{Database, reports};
use huigong_vault::{KeyMaterial, KeyRing};
use sea_orm::{ConnectionTrait, EntityTrait};
use std::time::{Duration, Instant};
use uuid::Uuid;

type Error = Box<dyn std::error::Error + Send + Sync>;

const DISTRICTS: usize = 20;
const UNIONS_PER_DISTRICT: usize = 100;
const BATCH: usize = 1000;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn county() -> Uuid {
    Uuid::parse_str(huigong_store::migration::COUNTY_ORG_ID).unwrap_or_default()
}

/// When the generated rows were written.
fn written() -> chrono::DateTime<Utc> {
    Utc::now() - chrono::Duration::days(1)
}

async fn insert_orgs(db: &Database, vault: &KeyRing) -> Result<Vec<Uuid>, Error> {
    let now = written();
    let txn = db.begin_write().await?;
    let mut unions = Vec::new();
    let mut org_rows = Vec::new();
    let mut unit_rows = Vec::new();
    for d in 0..DISTRICTS {
        let did = Uuid::now_v7();
        let dpath = format!("/{}/{did}/", county());
        org_rows.push(org::ActiveModel::from(org::Model {
            id: did,
            parent_id: Some(county()),
            level: "district".into(),
            name: format!("第{d}街道总工会"),
            path: dpath.clone(),
            status: "active".into(),
            founded_on: None,
            union_type: None,
            member_count_declared: None,
            leader_name_enc: None,
            phone_enc: None,
            review_reason: None,
            reviewed_at: None,
            dissolved_at: None,
            dissolution_reason: None,
            dissolution_requested_at: None,
            confirmed_at: None,
            remark: None,
            created_at: now,
            updated_at: now,
        }));
        for u in 0..UNIONS_PER_DISTRICT {
            let uid = Uuid::now_v7();
            unions.push(uid);
            org_rows.push(org::ActiveModel::from(org::Model {
                id: uid,
                parent_id: Some(did),
                level: "grassroots".into(),
                name: format!("第{d}街道第{u}公司工会"),
                path: format!("{dpath}{uid}/"),
                status: "active".into(),
                founded_on: chrono::NaiveDate::from_ymd_opt(2026, 3, 1),
                union_type: Some("单建".into()),
                member_count_declared: Some(500),
                leader_name_enc: Some(ORGS_LEADER_NAME.seal(vault, uid, "王主席")),
                phone_enc: Some(ORGS_PHONE.seal(vault, uid, "0572-6022447")),
                review_reason: None,
                reviewed_at: None,
                dissolved_at: None,
                dissolution_reason: None,
                dissolution_requested_at: None,
                confirmed_at: None,
                remark: None,
                created_at: now,
                updated_at: now,
            }));
            unit_rows.push(unit::ActiveModel::from(unit::Model {
                id: Uuid::now_v7(),
                org_id: uid,
                name: format!("第{d}街道第{u}公司"),
                code: format!("B{:017}", d * UNIONS_PER_DISTRICT + u),
                held_code: Some(format!("B{:017}", d * UNIONS_PER_DISTRICT + u)),
                nature: "私营经济".into(),
                address: "长兴县".into(),
                employee_count: 500,
                created_at: now,
                updated_at: now,
            }));
        }
    }
    // Parents before children (the foreign key).
    for chunk in org_rows.chunks(BATCH) {
        org::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&*txn)
            .await?;
    }
    for chunk in unit_rows.chunks(BATCH) {
        unit::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&*txn)
            .await?;
    }
    txn.commit().await?;
    Ok(unions)
}

async fn insert_members(
    db: &Database,
    vault: &KeyRing,
    unions: &[Uuid],
    members: usize,
) -> Result<(), Error> {
    let now = written();
    let birth = chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or_default();
    let started = Instant::now();
    let mut i = 0usize;
    while i < members {
        let txn = db.begin_write().await?;
        for _ in 0..10 {
            if i >= members {
                break;
            }
            let n = BATCH.min(members - i);
            let mut people = Vec::with_capacity(n);
            let mut ms = Vec::with_capacity(n);
            let mut cards = Vec::new();
            for k in i..i + n {
                let pid = Uuid::now_v7();
                let mid = Uuid::now_v7();
                people.push(person::ActiveModel::from(person::Model {
                    id: pid,
                    id_number_bidx: pid.as_bytes().to_vec(),
                    id_number_enc: PEOPLE_ID_NUMBER.seal(vault, pid, "330522199001011234"),
                    name_enc: PEOPLE_NAME.seal(vault, pid, "张三"),
                    mobile_enc: Some(PEOPLE_MOBILE.seal(vault, pid, "13957212345")),
                    mobile_bidx: None,
                    sex: "male".into(),
                    birth_date: birth,
                    created_at: now,
                    updated_at: now,
                }));
                ms.push(membership::ActiveModel::from(membership::Model {
                    id: mid,
                    person_id: pid,
                    org_id: unions[k % unions.len()],
                    unit_name: "长兴示范企业".into(),
                    nationality: "汉族".into(),
                    education: if k.is_multiple_of(100) { "" } else { "大专" }.into(),
                    household_type: "农村".into(),
                    employment_status: "在岗".into(),
                    union_post: "会员".into(),
                    status: "active".into(),
                    retired_on: None,
                    created_at: now,
                    updated_at: now,
                }));
                if k % 5 < 3 {
                    cards.push(card::ActiveModel::from(card::Model {
                        id: Uuid::now_v7(),
                        card_number: format!("{k:016}"),
                        person_id: pid,
                        membership_id: mid,
                        user_id: None,
                        status: "active".into(),
                        activated_at: now,
                        unbound_at: None,
                        created_at: now,
                        updated_at: now,
                    }));
                }
            }
            person::Entity::insert_many(people)
                .exec_without_returning(&*txn)
                .await?;
            membership::Entity::insert_many(ms)
                .exec_without_returning(&*txn)
                .await?;
            if !cards.is_empty() {
                card::Entity::insert_many(cards)
                    .exec_without_returning(&*txn)
                    .await?;
            }
            i += n;
        }
        txn.commit().await?;
        if i.is_multiple_of(100_000) {
            eprintln!("  {i} members ({:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    Ok(())
}

fn summary(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label}: min {:.1} ms, median {:.1} ms, max {:.1} ms ({} runs)",
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
        times.len()
    );
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let members = env_or("BENCH_MEMBERS", 1_000_000);
    let runs = env_or("BENCH_RUNS", 10);
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "sqlite://target/bench-reports.sqlite?mode=rwc".to_owned());
    let db = Database::connect(&DatabaseOptions {
        url: url.clone(),
        max_connections: 4,
        acquire_timeout: Duration::from_secs(30),
    })
    .await?;
    db.migrate().await?;
    let vault = KeyRing::new(&KeyMaterial::generate());
    let existing: u64 = {
        use sea_orm::PaginatorTrait;
        membership::Entity::find().count(&db.conn).await?
    };
    if existing == 0 {
        eprintln!("generating {members} members …");
        let started = Instant::now();
        let unions = insert_orgs(&db, &vault).await?;
        insert_members(&db, &vault, &unions, members).await?;
        db.conn.execute_unprepared("ANALYZE").await?;
        eprintln!("generated in {:.0} s", started.elapsed().as_secs_f64());
    } else {
        eprintln!("reusing the {existing} members already there");
    }

    let month = Month::of(Utc::now());
    let scope = format!("/{}/", county());
    let t = Instant::now();
    let first = reports::progress(&db, &scope, month, Utc::now(), 7).await?;
    let cold = t.elapsed();
    println!(
        "progress {month}: {} districts, {} members, {} complete, {} cards, {} unions registered",
        first.rows.len(),
        first.total.members,
        first.total.members_complete,
        first.total.cards_active,
        first.total.unions_registered
    );
    println!(
        "first report (counts every union into the counters): {:.1} ms",
        cold.as_secs_f64() * 1000.0
    );
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        reports::progress(&db, &scope, month, Utc::now(), 7).await?;
        times.push(t.elapsed());
    }
    summary("county-wide live report", times);
    let district = first.rows[0].org_id;
    let dscope = format!("{scope}{district}/");
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        reports::progress(&db, &dscope, month, Utc::now(), 7).await?;
        times.push(t.elapsed());
    }
    summary("one district's live report", times);
    // A write between reports: one membership touched, its union counted again.
    let some: Vec<Uuid> = {
        use sea_orm::QuerySelect;
        membership::Entity::find()
            .select_only()
            .column(membership::Column::Id)
            .limit(runs as u64)
            .into_tuple()
            .all(&db.conn)
            .await?
    };
    let mut times = Vec::new();
    for id in some {
        use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
        membership::Entity::update_many()
            .col_expr(membership::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(membership::Column::Id.eq(id))
            .exec(&db.conn)
            .await?;
        let t = Instant::now();
        reports::progress(&db, &scope, month, Utc::now(), 7).await?;
        times.push(t.elapsed());
    }
    summary("county-wide live report after a write", times);
    Ok(())
}
