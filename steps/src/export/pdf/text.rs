//! Text in the PDF: the standard Helvetica faces every PDF reader has (no font file to embed),
//! laid out with [`crate::helvetica`]'s widths, and the WinAnsi encoding their strings use.

pub use crate::helvetica::{Face, width, wrap};

/// The font's name in each page's resources.
pub fn resource(face: Face) -> &'static [u8] {
    match face {
        Face::Regular => b"F1",
        Face::Bold => b"F2",
    }
}

/// `text` in WinAnsi (the standard fonts' encoding); a character it lacks becomes `?`.
pub fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '€' => 0x80,
            '…' => 0x85,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '™' => 0x99,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '\t' | '\n' | '\r' => b' ',
            _ => b'?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_of_a_tech_pack_survive_the_encoding() {
        assert_eq!(win_ansi("± 5 mm × 2 — é"), b"\xb1 5 mm \xd7 2 \x97 \xe9");
        assert_eq!(win_ansi("中"), b"?");
    }
}
