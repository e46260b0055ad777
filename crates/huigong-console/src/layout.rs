//! What every signed-in page shares: the navigation by role, the CSRF token, the asset path.

use actix_web::HttpRequest;
use huigong_api::AppState;
use huigong_core::Role;

/// One entry of the side navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    /// The page being shown is under this entry.
    pub current: bool,
}

/// The console's pages, and who sees each in the navigation. Add a page's entry here.
const PAGES: &[(&str, &str, &[Role])] = {
    use Role::{CountyAdmin as C, DistrictAdmin as D, GrassrootsAdmin as G, MerchantStaff as M};
    &[
        ("/console/", "工作台", &[C, D, G]),
        ("/console/applications", "入会申请", &[C, D, G]),
        ("/console/members", "会员", &[C, D, G]),
        ("/console/roster", "花名册导入", &[C, D, G]),
        ("/console/orgs", "工会组织", &[C, D, G]),
        ("/console/reports/progress", "进度通报", &[C, D]),
        ("/console/merchants", "特约商家", &[C, D]),
        ("/console/till", "商家核销", &[M]),
        ("/console/account", "账号与安全", &[C, D, G, M]),
        ("/console/audit", "审计日志", &[C]),
    ]
};

/// The shared parts of a signed-in page.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Where the assets are (`/console/assets/<hash>`).
    pub assets: String,
    /// The CSRF token of this session, for `<meta name="csrf-token">` and every form.
    pub csrf: String,
    /// The caller's role, in Chinese.
    pub role_label: &'static str,
    pub nav: Vec<NavItem>,
}

/// The role's name in the console's header.
pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::CountyAdmin => "县总工会管理员",
        Role::DistrictAdmin => "乡镇（街道）工会管理员",
        Role::GrassrootsAdmin => "基层工会管理员",
        Role::MerchantStaff => "特约商家店员",
        Role::Worker => "职工",
    }
}

impl Layout {
    pub fn new(req: &HttpRequest, state: &AppState, role: Role) -> Self {
        let path = req.path();
        let nav = PAGES
            .iter()
            .filter(|(_, _, roles)| roles.contains(&role))
            .map(|(href, label, _)| NavItem {
                href,
                label,
                current: if *href == "/console/" {
                    path == "/console/" || path == "/console"
                } else {
                    path.starts_with(href)
                },
            })
            .collect();
        Self {
            assets: crate::assets::base(),
            csrf: crate::security::csrf_token(req, state),
            role_label: role_label(role),
            nav,
        }
    }
}
