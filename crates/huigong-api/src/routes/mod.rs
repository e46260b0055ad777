//! Routes, one module per audience.

pub mod accounts;
pub mod admin;
pub mod applications;
pub mod auth;
pub mod benefits;
pub mod card;
pub mod changes;
pub mod health;
pub mod lifecycle;
pub mod me;
pub mod members;
pub mod merchants;
pub mod orgs;
pub mod params;
pub mod phone;
pub mod posters;
pub mod reports;
pub mod roster;
pub mod totp;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers every documented route. The OpenAPI document is built from this same registration,
/// so a route cannot exist without appearing in it.
///
/// The router tries routes in this order, and a route with a path parameter costs a regular
/// expression each time it is tried, so the hottest paths come first: the probes, the worker's
/// card and code, the till. None of them can be shadowed (all are static paths).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(card::get_card)
        .service(card::qr_json)
        .service(merchants::verify)
        .service(merchants::redeem)
        .service(auth::wechat_login)
        .service(auth::logout)
        .service(me::me)
        .service(phone::confirm_phone)
        .service(auth::password_login)
        .service(totp::enrol)
        .service(totp::confirm)
        .service(admin::audit_log)
        .service(orgs::list_orgs)
        .service(orgs::get_org)
        .service(orgs::patch_org)
        .service(orgs::create_org)
        .service(orgs::create_user)
        .service(accounts::list_accounts)
        .service(accounts::get_account)
        .service(accounts::disable_account)
        .service(accounts::enable_account)
        .service(accounts::revoke_sessions)
        .service(accounts::reset_password)
        .service(accounts::unbind_staff)
        .service(accounts::change_password)
        .service(members::search_members)
        .service(members::search_members_by_body)
        .service(members::list_members)
        .service(members::add_member)
        .service(members::get_member)
        .service(roster::import_roster)
        .service(roster::export_roster)
        .service(roster::import_children)
        .service(roster::export_units)
        .service(roster::export_applications)
        .service(roster::export_signing_list)
        .service(card::preview)
        .service(card::confirm)
        .service(card::qr_image)
        .service(card::unbind)
        .service(benefits::catalogue)
        .service(benefits::list_benefits)
        .service(benefits::create_benefit)
        .service(benefits::update_benefit)
        .service(applications::declaration)
        .service(applications::unions)
        .service(posters::union_by_scene)
        .service(posters::org_poster)
        .service(applications::apply)
        .service(applications::mine)
        .service(applications::list_applications)
        .service(applications::approve_application)
        .service(applications::reject_application)
        .service(changes::change_member)
        .service(changes::list_transfers)
        .service(changes::accept_transfer)
        .service(changes::refuse_transfer)
        .service(changes::member_history)
        .service(lifecycle::submit_union)
        .service(lifecycle::approve_org)
        .service(lifecycle::reject_org)
        .service(lifecycle::org_reviews)
        .service(lifecycle::add_term)
        .service(lifecycle::approve_term)
        .service(lifecycle::reject_term)
        .service(lifecycle::list_terms)
        .service(lifecycle::expired_terms)
        .service(lifecycle::dissolve_org)
        .service(lifecycle::confirm_current)
        .service(lifecycle::quality_report)
        .service(reports::progress)
        .service(reports::progress_xlsx)
        .service(reports::set_target)
        .service(reports::list_subsidies)
        .service(reports::subsidies_xlsx)
        .service(reports::approve_subsidy)
        .service(reports::pay_subsidy)
        .service(reports::cycle_report)
        .service(merchants::create_merchant)
        .service(merchants::list_merchants)
        .service(merchants::get_merchant)
        .service(merchants::update_merchant)
        .service(merchants::create_staff)
        .service(merchants::redemption_summary)
        .service(merchants::merchant_redemptions)
        .service(merchants::merchant_redemption)
        .service(merchants::card_redemptions)
        .service(merchants::public_merchants);
}
