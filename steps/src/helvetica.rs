//! Helvetica's widths and line breaking. The PDF sets its text in Helvetica and a flat's SVG
//! names it first (Arial and Liberation Sans, its stand-ins, have the same widths), so both
//! lay text out from these numbers and agree on how wide a label is.

/// Helvetica's advance widths for `' '..='~'`, in thousandths of the font size (Adobe's AFM).
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // ' '..'/'
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // '0'..'9'
    278, 278, 584, 584, 584, 556, 1015, // ':'..'@'
    667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667,
    611, 722, 667, 944, 667, 667, 611, // 'A'..'Z'
    278, 278, 278, 469, 556, 333, // '['..'`'
    556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500,
    278, 556, 500, 722, 500, 500, 500, // 'a'..'z'
    334, 260, 334, 584, // '{'..'~'
];

/// Bold Helvetica runs about this much wider; close enough to wrap and fit text.
const BOLD_FACTOR: f32 = 1.08;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Regular,
    Bold,
}

/// The width of `text` set in `face` at `size` points.
pub fn width(text: &str, face: Face, size: f32) -> f32 {
    let units: u32 = text
        .chars()
        .map(|c| match c {
            ' '..='~' => u32::from(HELVETICA[c as usize - 32]),
            '—' | '…' | '‰' => 1000,
            '·' => 278,
            '‘' | '’' | '‚' => 222,
            '“' | '”' | '„' => 333,
            '•' => 350,
            '°' => 400,
            '±' | '×' | '÷' => 584,
            _ => 556,
        })
        .sum();
    let factor = if face == Face::Bold { BOLD_FACTOR } else { 1.0 };
    units as f32 / 1000.0 * size * factor
}

/// Breaks `text` into lines no wider than `max` points, at spaces where it can; a word wider
/// than a line is cut.
pub fn wrap(text: &str, face: Face, size: f32, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split(' ') {
            let candidate = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if width(&candidate, face, size) <= max {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            let mut rest = word.to_string();
            while width(&rest, face, size) > max && rest.chars().count() > 1 {
                let mut cut = rest.chars().count() - 1;
                while cut > 1
                    && width(&rest.chars().take(cut).collect::<String>(), face, size) > max
                {
                    cut -= 1;
                }
                lines.push(rest.chars().take(cut).collect());
                rest = rest.chars().skip(cut).collect();
            }
            line = rest;
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_follow_the_font_metrics() {
        assert!((width("ii", Face::Regular, 10.0) - 4.44).abs() < 0.01);
        assert!(width("WW", Face::Regular, 10.0) > width("ii", Face::Regular, 10.0) * 4.0);
        assert!(width("A", Face::Bold, 10.0) > width("A", Face::Regular, 10.0));
        // An em dash is a full em: right-aligned text that has one must not run long.
        assert!((width("—", Face::Regular, 10.0) - 10.0).abs() < 0.01);
    }

    #[test]
    fn text_wraps_at_spaces_and_long_words_are_cut() {
        let lines = wrap("one two three four", Face::Regular, 10.0, 40.0);
        assert!(lines.len() >= 2, "{lines:?}");
        assert!(
            lines.iter().all(|l| width(l, Face::Regular, 10.0) <= 40.0),
            "{lines:?}"
        );
        let long = wrap(&"x".repeat(100), Face::Regular, 10.0, 50.0);
        assert!(long.len() > 1 && long.iter().all(|l| width(l, Face::Regular, 10.0) <= 50.0));
    }
}
