//! `huigong serve --demo`: a plausible county to look at, written into an empty database
//! through the same store functions the API uses (people sealed, blind indexes, audit events),
//! so that a newcomer can sign in as each role at once.
//!
//! Everything it makes is marked as demo data: org names end in 【演示】, people's names in
//! （演示）, usernames start with `demo-`. Its ID numbers are generated (region 330522, a birth
//! date, a sequence, the GB 11643 check character) and belong to nobody. It refuses a database
//! that holds anything beyond the county federation a migration creates, and (in `main`) the
//! production profile.

use anyhow::Context as _;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use huigong_api::AppState;
use huigong_core::Role;
use huigong_core::id_number::{IdNumber, with_check_character};
use huigong_core::labels::{OrgLevel, UnionType, UnitNature};
use huigong_core::phone::{ContactPhone, Mobile};
use huigong_core::unit_code::UnitCode;
use huigong_store::audit::{self, Actor, Entry, Outcome};
use huigong_store::entity::{merchant, org, person as person_row, user};
use huigong_store::members::RosterFields;
use huigong_store::merchants::{DiscountKind, NewDiscount, NewMerchant};
use huigong_store::orgs::{NewOrg, NewUnion, NewUnit};
use huigong_store::people::PersonInput;
use huigong_store::users::NewAccount;
use huigong_store::{Database, applications, cards, members, merchants, orgs, users};
use rand::RngCore as _;
use sea_orm::{EntityTrait, PaginatorTrait};
use uuid::Uuid;

/// The marker in every demo org's name.
pub const ORG_MARK: &str = "【演示】";
/// The marker in every demo person's name.
pub const NAME_MARK: &str = "（演示）";
/// The WeChat openid (in the mock) that can activate a demo member's card.
pub const WORKER_OPENID: &str = "demo-worker";

/// A sign-in the demo printed.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub role: Role,
    pub username: String,
    pub password: String,
    /// The org (or merchant) the account belongs to.
    pub of: String,
}

/// A demo member without a card: who [`WORKER_OPENID`] activates.
#[derive(Debug, Clone)]
pub struct CardHolder {
    pub name: String,
    /// Generated, not a real person's: printed so the newcomer can type it.
    pub id_number: String,
    pub union_name: String,
}

/// What the demo wrote.
#[derive(Debug, Clone)]
pub struct Demo {
    pub sign_ins: Vec<SignIn>,
    pub holder: CardHolder,
    pub districts: usize,
    pub unions: usize,
    pub members: usize,
    pub cards: usize,
    pub pending_applications: usize,
    pub merchants: usize,
}

/// Why the demo refused.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The database holds data beyond the county federation a migration creates.
    #[error(
        "the database already holds data ({0}); `huigong serve --demo` only fills an empty one: point database.url at a new file (for example HUIGONG__DATABASE__URL=sqlite://data/demo.sqlite?mode=rwc)"
    )]
    NotEmpty(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// What the database holds beyond the migrated county federation, if anything.
pub async fn contents(db: &Database) -> anyhow::Result<Option<String>> {
    let orgs = org::Entity::find().count(&db.conn).await?;
    let accounts = user::Entity::find().count(&db.conn).await?;
    let people = person_row::Entity::find().count(&db.conn).await?;
    let merchants = merchant::Entity::find().count(&db.conn).await?;
    let mut held = Vec::new();
    if orgs > 1 {
        held.push(format!("{} orgs besides the county", orgs - 1));
    }
    if accounts > 0 {
        held.push(format!("{accounts} accounts"));
    }
    if people > 0 {
        held.push(format!("{people} people"));
    }
    if merchants > 0 {
        held.push(format!("{merchants} merchants"));
    }
    Ok((!held.is_empty()).then(|| held.join(", ")))
}

/// A password that meets the policy: 16 characters, lower case, upper case and digits.
fn password() -> String {
    const SETS: [&[u8]; 3] = [
        b"abcdefghijkmnpqrstuvwxyz",
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"23456789",
    ];
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let set = SETS[i % SETS.len()];
            char::from(set[usize::from(*b) % set.len()])
        })
        .collect()
}

/// A valid unified social credit code (Huzhou, enterprise) made from `seed`.
fn credit_code(seed: u32) -> anyhow::Result<UnitCode> {
    for org_check in "0123456789X".chars() {
        for check in "0123456789ABCDEFGHJKLMNPQRTUWXY".chars() {
            if let Ok(code) = UnitCode::parse(&format!("91330522D{seed:07}{org_check}{check}")) {
                return Ok(code);
            }
        }
    }
    anyhow::bail!("no credit code for seed {seed}")
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "沈", "钱",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "桂英", "建华", "志强", "海燕", "晓东", "雪梅", "国庆", "红霞",
];
const EDUCATION: &[&str] = &["大学本科", "大学专科", "高中", "中专", "初中", "研究生"];

/// Demo person number `n`: a name marked as demo data, a generated ID number and mobile.
fn person(n: u32, today: NaiveDate) -> anyhow::Result<(String, IdNumber, Mobile)> {
    let idx = n as usize;
    let name = format!(
        "{}{}{NAME_MARK}",
        SURNAMES[idx % SURNAMES.len()],
        GIVEN[(idx / SURNAMES.len() + idx * 7) % GIVEN.len()]
    );
    // Born 1966–2003; the three-digit sequence keeps every number distinct.
    let born = NaiveDate::from_ymd_opt(1966, 1, 1).unwrap_or_default()
        + Duration::days(i64::from((n * 4_813) % 13_800));
    let body = format!("330522{}{:03}", born.format("%Y%m%d"), n % 1000);
    let id = with_check_character(&body)
        .and_then(|full| IdNumber::parse(&full, today).ok())
        .context("generating a demo ID number")?;
    let mobile = Mobile::parse(&format!("1390572{:04}", n % 10_000))
        .map_err(|_| anyhow::anyhow!("generating a demo mobile"))?;
    Ok((name, id, mobile))
}

fn fields(unit_name: &str, n: u32, post: &str) -> RosterFields {
    let idx = n as usize;
    RosterFields {
        unit_name: unit_name.to_owned(),
        nationality: "中国".to_owned(),
        education: EDUCATION[idx % EDUCATION.len()].to_owned(),
        household_type: if n.is_multiple_of(3) {
            "农村"
        } else {
            "城镇"
        }
        .to_owned(),
        employment_status: "在岗".to_owned(),
        union_post: post.to_owned(),
    }
}

/// One grassroots union of the demo: name stem, type, its units (name, nature, employees).
struct UnionPlan {
    name: &'static str,
    union_type: UnionType,
    units: &'static [(&'static str, UnitNature, u32)],
    members: u32,
}

const DISTRICTS: &[(&str, &[UnionPlan])] = &[
    (
        "雉城街道总工会",
        &[
            UnionPlan {
                name: "长兴华茂纺织有限公司工会",
                union_type: UnionType::Single,
                units: &[("长兴华茂纺织有限公司", UnitNature::Private, 86)],
                members: 40,
            },
            UnionPlan {
                name: "雉城街道商贸楼宇联合工会",
                union_type: UnionType::Joint,
                units: &[
                    ("长兴金陵商贸有限公司", UnitNature::Private, 18),
                    ("长兴绿源餐饮店", UnitNature::Individual, 9),
                    ("长兴明湖物业服务有限公司", UnitNature::ShareHolding, 27),
                ],
                members: 30,
            },
            UnionPlan {
                name: "长兴县人民医院工会",
                union_type: UnionType::Single,
                units: &[("长兴县人民医院", UnitNature::PublicInstitution, 620)],
                members: 36,
            },
        ],
    ),
    (
        "画溪街道总工会",
        &[
            UnionPlan {
                name: "浙江天能电源材料有限公司工会",
                union_type: UnionType::Single,
                units: &[("浙江天能电源材料有限公司", UnitNature::ShareHolding, 540)],
                members: 34,
            },
            UnionPlan {
                name: "画溪街道快递物流行业工会联合会",
                union_type: UnionType::Federation,
                units: &[
                    ("长兴速达快递服务部", UnitNature::Individual, 14),
                    ("长兴通途物流有限公司", UnitNature::Private, 45),
                ],
                members: 22,
            },
            UnionPlan {
                name: "长兴画溪建材有限公司工会",
                union_type: UnionType::Single,
                units: &[("长兴画溪建材有限公司", UnitNature::Collective, 48)],
                members: 18,
            },
        ],
    ),
    (
        "和平镇总工会",
        &[
            UnionPlan {
                name: "和平镇农机合作社工会",
                union_type: UnionType::Single,
                units: &[("长兴和平农机专业合作社", UnitNature::Collective, 32)],
                members: 20,
            },
            UnionPlan {
                name: "长兴和美竹制品有限公司工会",
                union_type: UnionType::Single,
                units: &[("长兴和美竹制品有限公司", UnitNature::ForeignInvested, 120)],
                members: 28,
            },
            UnionPlan {
                name: "和平镇中心学校工会",
                union_type: UnionType::Single,
                units: &[("长兴县和平镇中心学校", UnitNature::PublicInstitution, 75)],
                members: 24,
            },
        ],
    ),
    (
        "长兴经济技术开发区总工会",
        &[
            UnionPlan {
                name: "长兴新能源汽车零部件有限公司工会",
                union_type: UnionType::Single,
                units: &[(
                    "长兴新能源汽车零部件有限公司",
                    UnitNature::ShareHolding,
                    860,
                )],
                members: 40,
            },
            UnionPlan {
                name: "长兴精工机械有限公司工会",
                union_type: UnionType::Single,
                units: &[(
                    "长兴精工机械有限公司",
                    UnitNature::HongKongMacaoTaiwanInvested,
                    210,
                )],
                members: 30,
            },
            UnionPlan {
                name: "开发区园区企业联合工会",
                union_type: UnionType::Joint,
                units: &[
                    ("长兴智造电子有限公司", UnitNature::Private, 38),
                    ("长兴瑞丰包装有限公司", UnitNature::Joint, 26),
                    ("长兴县阳光职业培训学校", UnitNature::Other, 12),
                ],
                members: 26,
            },
        ],
    ),
];

fn entry(action: &'static str, target_type: &'static str, id: Uuid) -> Entry<'static> {
    Entry {
        action,
        target_type,
        target_id: Some(id.to_string()),
        fields: &[],
        outcome: Outcome::Success,
    }
}

fn worker_actor(user_id: Uuid) -> Actor {
    Actor {
        user_id: Some(user_id),
        role: Role::Worker.as_str().to_owned(),
        client_ip: None,
        request_id: None,
    }
}

async fn account(
    db: &Database,
    role: Role,
    username: &str,
    org_id: Option<Uuid>,
    merchant_id: Option<Uuid>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> anyhow::Result<SignIn> {
    let password = password();
    let clear = password.clone();
    let hash = tokio::task::spawn_blocking(move || huigong_api::password::hash_blocking(&clear))
        .await
        .context("hashing a demo password")?
        .map_err(|e| anyhow::anyhow!("hashing a demo password: {e}"))?;
    let txn = db.begin_write().await?;
    let user = users::create_account(
        &txn,
        NewAccount {
            role,
            username: Some(username),
            password_hash: Some(hash),
            org_id,
        },
        now,
    )
    .await?;
    let action = match merchant_id {
        Some(m) => {
            merchants::bind_staff(&txn, user.id, m, now).await?;
            "merchant.staff_create"
        }
        None => "account.create",
    };
    audit::record(&txn, actor, &entry(action, "user", user.id), now).await?;
    txn.commit().await?;
    Ok(SignIn {
        role,
        username: username.to_owned(),
        password,
        of: String::new(),
    })
}

/// Fills the (empty) database behind `state` with the demo county. Refuses
/// ([`DemoError::NotEmpty`]) when it holds anything beyond the migrated county federation.
pub async fn fill(state: &AppState) -> Result<Demo, DemoError> {
    if let Some(held) = contents(&state.db).await? {
        return Err(DemoError::NotEmpty(held));
    }
    Ok(write(state).await?)
}

async fn write(state: &AppState) -> anyhow::Result<Demo> {
    let db = &state.db;
    let vault = state.vault.as_ref();
    let now = state.clock.now();
    let today = (now + Duration::hours(8)).date_naive();
    let actor = Actor::system();
    let county_id =
        Uuid::parse_str(huigong_store::migration::COUNTY_ORG_ID).context("the county org id")?;
    let county = orgs::get_in_scope(&db.conn, vault, county_id, "")
        .await
        .context("reading the county federation")?
        .context("the county federation is missing: run `huigong migrate`")?;

    let mut sign_ins = vec![SignIn {
        of: county.name.clone(),
        ..account(
            db,
            Role::CountyAdmin,
            "demo-county",
            Some(county.id),
            None,
            &actor,
            now,
        )
        .await?
    }];
    let mut n: u32 = 0;
    let mut unions = 0;
    let mut on_roster: Vec<(Uuid, String)> = Vec::new();
    let mut first_union: Option<(Uuid, String)> = None;
    let leader_phone = ContactPhone::parse("0572-6012345")
        .map_err(|_| anyhow::anyhow!("the demo leader phone"))?;
    for (d, (district_name, plans)) in DISTRICTS.iter().enumerate() {
        let name = format!("{district_name}{ORG_MARK}");
        let txn = db.begin_write().await?;
        let district = orgs::create(
            &txn,
            vault,
            &county,
            &NewOrg {
                level: OrgLevel::District,
                name: &name,
                union: None,
            },
            &actor,
            now,
        )
        .await?;
        txn.commit().await?;
        if d == 0 {
            let username = "demo-district";
            sign_ins.push(SignIn {
                of: district.name.clone(),
                ..account(
                    db,
                    Role::DistrictAdmin,
                    username,
                    Some(district.id),
                    None,
                    &actor,
                    now,
                )
                .await?
            });
        }
        for (u, plan) in plans.iter().enumerate() {
            let seed = u32::try_from(d * 10 + u).unwrap_or_default();
            let codes = plan
                .units
                .iter()
                .enumerate()
                .map(|(k, _)| credit_code(seed * 10 + u32::try_from(k).unwrap_or_default()))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let addresses: Vec<String> = plan
                .units
                .iter()
                .enumerate()
                .map(|(k, _)| {
                    format!(
                        "浙江省湖州市长兴县{}{}号",
                        district_name.trim_end_matches("总工会"),
                        101 + seed * 3 + u32::try_from(k).unwrap_or_default()
                    )
                })
                .collect();
            let units: Vec<NewUnit<'_>> = plan
                .units
                .iter()
                .zip(&codes)
                .zip(&addresses)
                .map(
                    |(((unit_name, nature, employees), code), address)| NewUnit {
                        name: unit_name,
                        code,
                        nature: *nature,
                        // The notice's list ends with 等: 其他 says what it is.
                        nature_other: (*nature == UnitNature::Other).then_some("民办非企业单位"),
                        address,
                        employee_count: *employees,
                    },
                )
                .collect();
            let (leader, _, _) = person(900 + seed, today)?;
            let union = NewUnion {
                founded_on: NaiveDate::from_ymd_opt(2012 + (seed % 14) as i32, 1 + seed % 12, 15)
                    .unwrap_or(today),
                union_type: plan.union_type,
                member_count: plan.members + seed % 5,
                leader_name: &leader,
                phone: &leader_phone,
                units,
            };
            let union_name = format!("{}{ORG_MARK}", plan.name);
            let txn = db.begin_write().await?;
            let created = orgs::create(
                &txn,
                vault,
                &district,
                &NewOrg {
                    level: OrgLevel::Grassroots,
                    name: &union_name,
                    union: Some(&union),
                },
                &actor,
                now,
            )
            .await?;
            for m in 0..plan.members {
                n += 1;
                let (name, id, mobile) = person(n, today)?;
                let (unit_name, _, _) = plan.units[(m as usize) % plan.units.len()];
                let post = match m {
                    0 => "工会主席",
                    1 | 2 => "工会委员",
                    _ => "",
                };
                let member = members::add_in(
                    &txn,
                    vault,
                    created.id,
                    PersonInput {
                        id_number: &id,
                        name: &name,
                        mobile: Some(&mobile),
                    },
                    &fields(unit_name, n, post),
                    None,
                    &actor,
                    now,
                )
                .await
                .map_err(|e| anyhow::anyhow!("adding a demo member: {e}"))?;
                on_roster.push((member.person.id, created.name.clone()));
            }
            txn.commit().await?;
            unions += 1;
            if first_union.is_none() {
                first_union = Some((created.id, created.name.clone()));
                sign_ins.push(SignIn {
                    of: created.name.clone(),
                    ..account(
                        db,
                        Role::GrassrootsAdmin,
                        "demo-union",
                        Some(created.id),
                        None,
                        &actor,
                        now,
                    )
                    .await?
                });
            }
        }
    }
    let members_total = on_roster.len();

    // Cards: about four in ten members have activated theirs, each with a WeChat account of
    // its own (the mock accepts any openid).
    let mut cards_activated = 0;
    for (k, (person_id, _)) in on_roster.iter().enumerate() {
        if k % 5 >= 2 || k + 1 == on_roster.len() {
            continue;
        }
        let openid = format!("demo-worker-{k:04}");
        let user = users::upsert_wechat_login(db, &openid, None, now).await?;
        cards::activate(
            db,
            &state.card_views,
            *person_id,
            user.id,
            &worker_actor(user.id),
            now,
        )
        .await
        .map_err(|e| anyhow::anyhow!("activating a demo card: {e}"))?;
        cards_activated += 1;
    }
    // The last member has no card: the one the newcomer activates as `demo-worker`.
    let holder = {
        let (name, id, _) = person(n, today)?;
        CardHolder {
            name,
            id_number: id.as_str().to_owned(),
            union_name: on_roster.last().map(|(_, u)| u.clone()).unwrap_or_default(),
        }
    };

    // Pending applications: workers not on any roster applying online to the first union.
    let (first_union_id, _) = first_union.clone().context("no demo union")?;
    let mut pending = 0;
    for k in 0..6u32 {
        n += 1;
        let (name, id, mobile) = person(n, today)?;
        let openid = format!("demo-applicant-{k}");
        let user = users::upsert_wechat_login(db, &openid, None, now).await?;
        let (unit_name, _, _) = DISTRICTS[0].1[0].units[0];
        applications::submit(
            db,
            vault,
            applications::NewApplication {
                user_id: user.id,
                org_id: first_union_id,
                id_number: &id,
                name: &name,
                mobile: Some(&mobile),
                fields: &fields(unit_name, n, ""),
                declaration_version: huigong_api::routes::applications::DECLARATION_VERSION,
                consent_sensitive: true,
                signature_name: &name,
                signature_png: None,
                idempotency_key: None,
            },
            false,
            &worker_actor(user.id),
            now - Duration::days(i64::from(k) * 3),
        )
        .await
        .map_err(|e| anyhow::anyhow!("a demo application: {e}"))?;
        pending += 1;
    }

    // Merchants with discounts, onboarded by the county; one till account.
    let plans: [(&str, &str, &str, Vec<NewDiscount>); 3] = [
        (
            "长兴惠民超市（城中店）",
            "购物",
            "长兴县雉城街道明珠路88号",
            vec![NewDiscount {
                title: "会员购物满100元九五折".into(),
                kind: DiscountKind::Percent,
                value: Some(5),
                valid_from: today - Duration::days(30),
                valid_to: today + Duration::days(365),
                daily_limit_per_card: 1,
            }],
        ),
        (
            "太湖图影农家菜馆",
            "餐饮",
            "长兴县画溪街道太湖大道16号",
            vec![
                NewDiscount {
                    title: "凭惠工卡立减20元".into(),
                    kind: DiscountKind::Amount,
                    value: Some(2_000),
                    valid_from: today - Duration::days(30),
                    valid_to: today + Duration::days(365),
                    daily_limit_per_card: 1,
                },
                NewDiscount {
                    title: "赠送饮品一份".into(),
                    kind: DiscountKind::Perk,
                    value: None,
                    valid_from: today - Duration::days(30),
                    valid_to: today + Duration::days(365),
                    daily_limit_per_card: 1,
                },
            ],
        ),
        (
            "长兴职工健身中心",
            "文体",
            "长兴县经济技术开发区体育路3号",
            vec![NewDiscount {
                title: "单次健身八折".into(),
                kind: DiscountKind::Percent,
                value: Some(20),
                valid_from: today - Duration::days(30),
                valid_to: today + Duration::days(365),
                daily_limit_per_card: 2,
            }],
        ),
    ];
    let mut merchant_count = 0;
    let mut till: Option<(Uuid, String)> = None;
    for (name, category, address, discounts) in plans {
        let created = merchants::create(
            db,
            &NewMerchant {
                org_id: county.id,
                name: format!("{name}{ORG_MARK}"),
                category: category.to_owned(),
                address: address.to_owned(),
                phone: "0572-6023456".to_owned(),
                discounts,
            },
            &actor,
            now,
        )
        .await?;
        merchant_count += 1;
        if till.is_none() {
            till = Some((created.row.id, created.row.name.clone()));
        }
    }
    let (merchant_id, merchant_name) = till.context("no demo merchant")?;
    sign_ins.push(SignIn {
        of: merchant_name,
        ..account(
            db,
            Role::MerchantStaff,
            "demo-till",
            None,
            Some(merchant_id),
            &actor,
            now,
        )
        .await?
    });

    Ok(Demo {
        sign_ins,
        holder,
        districts: DISTRICTS.len(),
        unions,
        members: members_total,
        cards: cards_activated,
        pending_applications: pending,
        merchants: merchant_count,
    })
}

/// The text `serve --demo` prints: one sign-in per role, and how to activate a card.
pub fn summary(demo: &Demo, base: &str) -> String {
    let mut out = String::new();
    out.push_str("演示数据 (demo data, all generated; names marked 【演示】/（演示）):\n");
    out.push_str(&format!(
        "  {} districts, {} grassroots unions, {} members ({} cards activated), {} pending applications, {} merchants\n",
        demo.districts, demo.unions, demo.members, demo.cards, demo.pending_applications, demo.merchants
    ));
    out.push_str("  sign in (POST /api/v1/auth/password/login {\"username\", \"password\"}):\n");
    for s in &demo.sign_ins {
        out.push_str(&format!(
            "    demo sign-in {:<16} username {:<14} password {}   ({})\n",
            s.role.as_str(),
            s.username,
            s.password,
            s.of
        ));
    }
    out.push_str(&format!(
        "  a worker who can activate a card: WeChat mock openid {WORKER_OPENID}, member {} ({}), ID number {}\n",
        demo.holder.name, demo.holder.union_name, demo.holder.id_number
    ));
    out.push_str(&format!(
        "    curl -s -XPOST {base}/wechat-mock/wx/login -H 'content-type: application/json' -d '{{\"openid\":\"{WORKER_OPENID}\"}}' | curl -s {base}/api/v1/auth/wechat/login -H 'content-type: application/json' -d @-\n"
    ));
    out.push_str(
        "    then POST /api/v1/card/activation/preview {\"name\", \"id_number\"} and /api/v1/card/activation/confirm {\"preview_id\"}\n",
    );
    out
}
