//! Who a caller is, as far as authorisation is concerned.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The role of an account. Stored as its snake_case name, never as a native database enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A worker logged in through the WeChat mini program.
    Worker,
    /// 县总工会 administrator.
    CountyAdmin,
    /// 乡镇/街道/园区总工会 or 县直属产业/行业工会 administrator.
    DistrictAdmin,
    /// 基层工会 administrator.
    GrassrootsAdmin,
    /// 特约商家 staff.
    MerchantStaff,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Worker,
        Role::CountyAdmin,
        Role::DistrictAdmin,
        Role::GrassrootsAdmin,
        Role::MerchantStaff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Worker => "worker",
            Role::CountyAdmin => "county_admin",
            Role::DistrictAdmin => "district_admin",
            Role::GrassrootsAdmin => "grassroots_admin",
            Role::MerchantStaff => "merchant_staff",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of the role names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRole(pub String);

impl fmt::Display for UnknownRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown role {:?}", self.0)
    }
}

impl std::error::Error for UnknownRole {}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_through_its_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            let json = serde_json::to_string(&role).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(role.to_string(), role.as_str());
        }
    }

    #[test]
    fn unknown_role_names_are_rejected() {
        assert_eq!(
            "admin".parse::<Role>(),
            Err(UnknownRole("admin".to_owned()))
        );
    }
}
