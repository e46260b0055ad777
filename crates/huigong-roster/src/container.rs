//! Checks on the container (zip or OLE), done before any XML or record is parsed.
//!
//! Only the central directory is read: entry count, encryption flags and the sizes each entry
//! declares. Checking the declared sizes is enough because the `zip` crate (which calamine
//! uses to decompress) refuses to produce more bytes than an entry declares, so a lying
//! header yields a read error, not a bomb.

use std::io::Cursor;

use crate::error::{Limits, WorkbookError};

/// Signature of an OLE compound file: Excel 97-2003 `.xls`, or a password-protected `.xlsx`.
const OLE_SIGNATURE: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Entries declaring at most this many uncompressed bytes are exempt from the ratio check.
const RATIO_CHECK_MIN_BYTES: u64 = 1024 * 1024;

/// The kind of workbook a file is, as far as its container tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Office Open XML (`.xlsx`).
    Xlsx,
    /// OpenDocument spreadsheet (`.ods`).
    Ods,
    /// An OLE compound file: Excel 97-2003 `.xls`, a WPS `.et`, or a password-protected
    /// `.xlsx`; which one is known only when it is opened.
    Ole,
}

/// The name of the stream holding a password-protected `.xlsx`, as an OLE directory entry
/// stores it (UTF-16LE).
const ENCRYPTED_PACKAGE: &[u8] = b"E\0n\0c\0r\0y\0p\0t\0e\0d\0P\0a\0c\0k\0a\0g\0e\0";

/// Whether an OLE compound file holds a password-protected `.xlsx`.
pub(crate) fn is_encrypted_package(bytes: &[u8]) -> bool {
    bytes
        .windows(ENCRYPTED_PACKAGE.len())
        .any(|window| window == ENCRYPTED_PACKAGE)
}

/// Rejects files that are too large, not zip-based or OLE workbooks, or zip bombs, and tells
/// which kind of workbook the rest are.
pub(crate) fn check(bytes: &[u8], limits: &Limits) -> Result<Format, WorkbookError> {
    if bytes.len() > limits.max_bytes {
        return Err(WorkbookError::TooLarge {
            max_bytes: limits.max_bytes,
        });
    }
    if bytes.starts_with(&OLE_SIGNATURE) {
        if is_encrypted_package(bytes) {
            return Err(WorkbookError::Encrypted);
        }
        return Ok(Format::Ole);
    }
    let archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| WorkbookError::NotXlsx)?;
    let metadata = archive.metadata();
    if metadata.is_empty() {
        return Err(WorkbookError::NotXlsx);
    }
    if metadata.len() > limits.max_zip_entries {
        return Err(WorkbookError::ZipBomb);
    }

    let mut total: u64 = 0;
    let mut has_content_types = false;
    let mut has_ods_content = false;
    for index in 0..metadata.len() {
        let entry = metadata
            .entry(index)
            .map_err(|e| WorkbookError::Corrupt(e.to_string()))?;
        if entry.encrypted() {
            // Excel never encrypts at the zip level; such a file was not saved by Excel.
            return Err(WorkbookError::NotXlsx);
        }
        has_content_types |= entry.name_raw() == b"[Content_Types].xml";
        has_ods_content |= entry.name_raw() == b"content.xml";

        let size = entry.size();
        total = total.saturating_add(size);
        if total > limits.max_uncompressed_bytes {
            return Err(WorkbookError::ZipBomb);
        }
        let ratio = size / entry.compressed_size().max(1);
        if size > RATIO_CHECK_MIN_BYTES && ratio > limits.max_compression_ratio {
            return Err(WorkbookError::ZipBomb);
        }
    }
    if has_content_types {
        return Ok(Format::Xlsx);
    }
    if has_ods_content && is_ods_mimetype(&archive) {
        return Ok(Format::Ods);
    }
    // Every OOXML package has `[Content_Types].xml` and every OpenDocument spreadsheet a
    // `mimetype` saying so; anything else is some other zip (`.docx`, `.odt`, an archive).
    Err(WorkbookError::NotXlsx)
}

/// Whether the zip's `mimetype` entry names an OpenDocument spreadsheet. The entry is tiny
/// and stored uncompressed by every writer; at most 100 bytes of it are read.
fn is_ods_mimetype(archive: &zip::ZipArchive<Cursor<&[u8]>>) -> bool {
    use std::io::Read;
    let mut archive = archive.clone();
    let Ok(entry) = archive.by_name("mimetype") else {
        return false;
    };
    let mut text = String::new();
    entry.take(100).read_to_string(&mut text).is_ok()
        && text.trim() == "application/vnd.oasis.opendocument.spreadsheet"
}
