//! Text: how wide a label is without a font at hand, and how to escape it.

use std::fmt::Write;

/// Font size of node labels, in pixels.
pub(crate) const FONT_SIZE: f64 = 14.0;
/// Font size of cluster and edge labels, in pixels.
pub(crate) const SMALL_FONT_SIZE: f64 = 12.0;
/// Distance between two baselines, as a multiple of the font size.
pub(crate) const LINE_HEIGHT: f64 = 1.25;
/// The font stack of the SVG and the DOT output.
pub(crate) const FONT_FAMILY: &str = "Helvetica, Arial, sans-serif";

/// The approximate width of `line` at `size` pixels in a sans-serif font.
///
/// Per-character widths are those of DejaVu Sans rounded up to a few
/// classes (it is the widest of the usual fallbacks, so text estimated this
/// way fits in Helvetica and Arial too); East Asian wide characters count as
/// a full em.
pub(crate) fn line_width(line: &str, size: f64) -> f64 {
    let ems: f64 = line
        .chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' | '`' => 0.32,
            ' ' | 'f' | 't' | 'r' | 'I' | '(' | ')' | '[' | ']' | '{' | '}' | '/' | '\\' => 0.42,
            '"' | '-' | '*' => 0.46,
            'm' | 'w' | 'M' | 'W' | '@' | '%' => 0.92,
            'A'..='Z' | '&' | '#' | '<' | '>' | '=' | '+' | '~' | '_' => 0.72,
            '0'..='9' | 'a'..='z' | '$' | '?' | '^' => 0.62,
            c if c.is_ascii() => 0.62,
            c if is_wide(c) => 1.0,
            _ => 0.66,
        })
        .sum();
    ems * size
}

/// Width and height of a label of one or more lines at `size` pixels.
pub(crate) fn block_size(text: &str, size: f64) -> (f64, f64) {
    let mut width: f64 = 0.0;
    let mut lines = 0;
    for line in text.split('\n') {
        width = width.max(line_width(line, size));
        lines += 1;
    }
    (width, lines as f64 * size * LINE_HEIGHT)
}

/// `text`, cut at the end with `…` so that it is at most `max` pixels wide.
pub(crate) fn ellipsize(text: &str, size: f64, max: f64) -> String {
    if line_width(text, size) <= max {
        return text.to_owned();
    }
    let mut out = String::new();
    let budget = max - line_width("…", size);
    let mut used = 0.0;
    for c in text.chars() {
        let w = line_width(c.encode_utf8(&mut [0; 4]), size);
        if used + w > budget {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// East Asian wide and fullwidth ranges, and emoji: about one em each.
fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F300..=0x1FAFF
        | 0x20000..=0x3FFFD)
}

/// Appends `text` to `out` escaped for XML character data and attribute
/// values (in double quotes). Characters XML 1.0 does not allow at all (most
/// control characters) become U+FFFD.
pub(crate) fn push_xml(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// Appends `text` to `out` as the inside of a DOT double-quoted string:
/// quotes and backslashes are escaped, a line feed becomes DOT's `\n`
/// (a centred line break), other control characters become spaces.
pub(crate) fn push_dot(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_quotes_and_control_characters() {
        let mut s = String::new();
        push_xml(&mut s, "a<b & \"c\" 'd'>\u{1}\n");
        assert_eq!(
            s,
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\u{FFFD}&#10;"
        );
    }

    #[test]
    fn dot_escapes_quotes_backslashes_and_newlines() {
        let mut s = String::new();
        push_dot(&mut s, "say \"hi\"\\n\nnext\t");
        assert_eq!(s, "say \\\"hi\\\"\\\\n\\nnext ");
    }

    #[test]
    fn widths_grow_with_text_and_size() {
        assert!(line_width("add", 14.0) < line_width("add_all", 14.0));
        assert!(line_width("add", 12.0) < line_width("add", 14.0));
        assert!(line_width("WWW", 14.0) > line_width("iii", 14.0));
        assert_eq!(block_size("ab\nabcd", 10.0).0, line_width("abcd", 10.0));
    }

    #[test]
    fn ellipsize_fits_and_keeps_short_text() {
        assert_eq!(ellipsize("loop", 12.0, 100.0), "loop");
        let cut = ellipsize("iteration number forty-two", 12.0, 60.0);
        assert!(cut.ends_with('…'));
        assert!(line_width(&cut, 12.0) <= 60.0);
    }
}
