//! Excel import and export in the layouts of the county federation's notice (长总工〔2018〕12号):
//! the member roster of 附件3 and the organisation table of 附件1.
//!
//! The crate is pure: bytes in, typed rows and a validation report out ([`parse_roster`],
//! [`parse_orgs`]); typed rows in, `.xlsx` bytes out ([`write_roster`], [`write_orgs`]). It
//! does no I/O and reads no clock (`today` is a parameter).
//!
//! Reading is defensive, because the bytes come from an upload:
//! - `.xlsx`, Excel 97-2003 `.xls` and OpenDocument `.ods` are read alike, with the same
//!   report; a WPS `.et` or other unreadable OLE file is named as such
//!   ([`WorkbookError::LegacyFormat`]) and so is a password-protected one
//!   ([`WorkbookError::Encrypted`]);
//! - the zip container is checked before any XML is parsed (size, declared uncompressed
//!   size, compression ratio, entry count; see [`Limits`]);
//! - an `.xlsx` sheet is streamed row by row and only the table's columns are kept, so neither
//!   a far-away cell nor a huge row count can blow up memory; reading stops at
//!   [`Limits::max_rows`]. calamine reads `.xls` and `.ods` sheets whole (bounded by the
//!   file size limit and calamine's own cell cap); rows are then taken from that range.
//!
//! Problems with single cells are [`RowError`]s that name the row, the column and a stable
//! code, never the cell's content: the report can be shown and logged without leaking the
//! personal data it is about. Only a problem with the whole file is a [`WorkbookError`].

#![warn(missing_docs)]

mod applications;
mod cell;
mod container;
mod error;
pub mod labels;
mod orgs;
mod out;
mod report;
pub mod reports;
mod roster;
mod sheet;
mod tables;

pub use applications::{
    APPLICATIONS_TITLE, ApplicationListRow, SIGNING_LIST_NOTE, SigningListRow, write_applications,
    write_signing_list,
};
pub use error::{Limits, WorkbookError};
pub use labels::{UnionType, UnitNature};
pub use orgs::{ORGS_TITLE, OrgExportRow, OrgRow, ParsedOrgs, parse_orgs, write_orgs};
pub use report::RowError;
pub use roster::{
    ParsedRoster, ROSTER_TITLE, RosterExportRow, RosterHeader, RosterRow, Spill, parse_roster,
    write_roster, write_roster_with,
};
pub use tables::{Table, write_tables};
