//! Full-width to half-width folding, shared by the identity parsers.
//!
//! Chinese input methods often produce full-width forms (`１２３`, `Ｘ`, `－`, `＋`) and the
//! ideographic space (U+3000). The parsers fold these to their ASCII equivalents before
//! applying their rules, so a clerk typing in full-width mode is not rejected.

/// Maps a full-width ASCII variant (U+FF01–U+FF5E) to its ASCII character and the
/// ideographic space (U+3000) to an ASCII space. Every other character is returned unchanged.
pub(crate) fn to_half_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::to_half_width;

    #[test]
    fn full_width_ascii_variants_fold_to_ascii() {
        let folded: String = "０１２３４５６７８９ＡＺａｚ－＋\u{3000}"
            .chars()
            .map(to_half_width)
            .collect();
        assert_eq!(folded, "0123456789AZaz-+ ");
    }

    #[test]
    fn other_characters_are_unchanged() {
        let folded: String = "a1-张·".chars().map(to_half_width).collect();
        assert_eq!(folded, "a1-张·");
    }
}
