//! Checks on the zip container, done before any XML is parsed.
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

/// Rejects files that are too large, not zip-based workbooks, or zip bombs.
pub(crate) fn check(bytes: &[u8], limits: &Limits) -> Result<(), WorkbookError> {
    if bytes.len() > limits.max_bytes {
        return Err(WorkbookError::TooLarge {
            max_bytes: limits.max_bytes,
        });
    }
    if bytes.starts_with(&OLE_SIGNATURE) {
        return Err(WorkbookError::LegacyFormat);
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
    for index in 0..metadata.len() {
        let entry = metadata
            .entry(index)
            .map_err(|e| WorkbookError::Corrupt(e.to_string()))?;
        if entry.encrypted() {
            // Excel never encrypts at the zip level; such a file was not saved by Excel.
            return Err(WorkbookError::NotXlsx);
        }
        has_content_types |= entry.name_raw() == b"[Content_Types].xml";

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
    if !has_content_types {
        // Every OOXML package has one; without it this is some other zip (e.g. `.ods`).
        return Err(WorkbookError::NotXlsx);
    }
    Ok(())
}
