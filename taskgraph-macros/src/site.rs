//! Where a `#[delayed]` function is written: among a module's items, or
//! among an `impl` (or `trait`) block's.
//!
//! An attribute macro is not told. It matters for a function without
//! `self` that does not name `Self`: at module level it gets a companion
//! (a struct beside it, see `delayed.rs`), which an `impl` block may not
//! hold. So the source file is read around the function's name, when the
//! compiler gives its location: the innermost `{ .. }` holding the name
//! says which. Without a location (tools that run macros without the
//! compiler), or when the name is not found there (a function made by
//! another macro), the function is taken to be at module level.

use std::path::Path;

/// Whether the function named `name` (its identifier's span) is written
/// directly inside an `impl` or `trait` block of its source file.
pub(crate) fn inside_impl(name: &syn::Ident) -> bool {
    if !proc_macro::is_available() {
        return false;
    }
    let span = name.span().unwrap();
    let Some(file) = span.local_file() else {
        return false;
    };
    let (line, column) = (span.line(), span.column());
    read_around(&file, line, column, &name.to_string())
}

fn read_around(file: &Path, line: usize, column: usize, name: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(file) else {
        return false;
    };
    let Some(at) = offset(&text, line, column) else {
        return false;
    };
    let name = name.strip_prefix("r#").unwrap_or(name);
    text[at..].starts_with(name) && block_at(&text, at) == Block::Impl
}

/// The byte offset of a one-based line and character column.
fn offset(text: &str, line: usize, column: usize) -> Option<usize> {
    let start = if line <= 1 {
        0
    } else {
        text.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let rest = &text[start..];
    let k = rest
        .char_indices()
        .nth(column.checked_sub(1)?)
        .map_or(rest.len(), |(k, _)| k);
    Some(start + k)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Block {
    /// The file itself, a module, a function body, an expression.
    Other,
    /// An `impl` or `trait` block: only associated items.
    Impl,
}

/// The kind of the innermost block holding byte `at` of a Rust source
/// file: a small lexer that skips comments, strings and character literals
/// and keeps a stack of the blocks open, each named by the first keyword of
/// the item it opens (after attributes, visibility, `unsafe`, `default`).
fn block_at(text: &str, at: usize) -> Block {
    let b = text.as_bytes();
    let mut stack: Vec<Block> = Vec::new();
    // The first word of the current item or statement, and how deep in
    // `(..)`, `[..]` the lexer is within it.
    let mut first: Option<&str> = None;
    let mut nested = 0usize;
    let mut i = 0;
    while i < at.min(b.len()) {
        let c = b[i];
        match c {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = text[i..].find('\n').map_or(b.len(), |k| i + k);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0usize;
                while i < b.len() {
                    if b[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if b[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'"' => {
                i = skip_string(b, i + 1);
                continue;
            }
            b'\'' => {
                i = skip_quote(text, i);
                continue;
            }
            b'(' | b'[' => nested += 1,
            b')' | b']' => nested = nested.saturating_sub(1),
            b'{' => {
                let kind = match first {
                    Some("impl" | "trait") => Block::Impl,
                    _ => Block::Other,
                };
                stack.push(kind);
                (first, nested) = (None, 0);
            }
            b'}' => {
                stack.pop();
                (first, nested) = (None, 0);
            }
            b';' => (first, nested) = (None, 0),
            c if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 => {
                let start = i;
                while i < b.len() && (b[i] == b'_' || b[i].is_ascii_alphanumeric() || b[i] >= 0x80)
                {
                    i += 1;
                }
                let word = &text[start..i];
                // `r"..."`, `br#"..."#`, `cr".."`: raw strings.
                if matches!(word, "r" | "br" | "cr") && matches!(b.get(i), Some(b'"' | b'#')) {
                    i = skip_raw_string(b, i);
                    continue;
                }
                // `b"..."`, `c"..."`, `b'x'`.
                if matches!(word, "b" | "c") && b.get(i) == Some(&b'"') {
                    i = skip_string(b, i + 1);
                    continue;
                }
                let modifier = matches!(
                    word,
                    "pub" | "crate" | "super" | "self" | "in" | "unsafe" | "default" | "auto"
                );
                if first.is_none() && nested == 0 && !modifier {
                    first = Some(word);
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    stack.last().copied().unwrap_or(Block::Other)
}

/// Past the closing `"` of a string whose contents start at `i`.
fn skip_string(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// Past a raw string whose `#`s or `"` start at `i`.
fn skip_raw_string(b: &[u8], mut i: usize) -> usize {
    let hashes = b[i..].iter().take_while(|&&c| c == b'#').count();
    i += hashes;
    if b.get(i) != Some(&b'"') {
        return i;
    }
    i += 1;
    while i < b.len() {
        if b[i] == b'"'
            && b[i + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == b'#')
                .count()
                == hashes
        {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

/// Past a character literal (`'x'`, `'\n'`, `'\u{1F600}'`) or a lifetime
/// (`'a`) starting at the `'` at `i`.
fn skip_quote(text: &str, i: usize) -> usize {
    let rest = &text[i + 1..];
    let mut chars = rest.char_indices();
    match chars.next() {
        Some((_, '\\')) => {
            // An escape (`'\''`, `'\n'`, `'\u{7B}'`): the literal ends at
            // the first `'` after the escaped character.
            rest.get(2..)
                .and_then(|r| r.find('\''))
                .map_or(text.len(), |k| i + 1 + 2 + k + 1)
        }
        Some(_) => match chars.next() {
            Some((k, '\'')) => i + 1 + k + 1,
            // A lifetime or label: only the quote is skipped.
            _ => i + 1,
        },
        None => text.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_at(src: &str, marker: &str) -> Block {
        block_at(src, src.find(marker).expect("marker"))
    }

    #[test]
    fn finds_the_block_a_function_is_written_in() {
        let src = r##"
            // impl { in a comment
            /* impl Nested { /* } */ */
            fn free() -> impl Iterator<Item = u8> { let s = "impl X {"; std::iter::empty() }
            pub(crate) struct S<'a>(&'a str);
            #[attr(impl)]
            unsafe impl<'a> Send for S<'a> where S<'a>: Sized {
                fn in_impl_1() { let c = '{'; let r = r#"}"#; let q = ['\'', '\u{7B}']; }
                fn method(&self) { fn local_fn() {} }
            }
            mod m {
                fn in_mod() {}
                pub trait T { fn in_trait(); }
                const _: () = { fn in_const() {} };
            }
            impl S<'static> {
                #[doc = "}"]
                pub fn in_impl_2(x: [u8; 2]) -> u8 { x[0] }
            }
        "##;
        assert_eq!(kind_at(src, "free"), Block::Other);
        assert_eq!(kind_at(src, "in_impl_1"), Block::Impl);
        assert_eq!(kind_at(src, "local_fn"), Block::Other);
        assert_eq!(kind_at(src, "in_mod"), Block::Other);
        assert_eq!(kind_at(src, "in_trait"), Block::Impl);
        assert_eq!(kind_at(src, "in_const"), Block::Other);
        assert_eq!(kind_at(src, "in_impl_2"), Block::Impl);
    }

    #[test]
    fn offsets_count_lines_and_characters_from_one() {
        let src = "ab\n\u{e9}cd\nx";
        assert_eq!(offset(src, 1, 1), Some(0));
        assert_eq!(offset(src, 2, 2), Some(5));
        assert_eq!(&src[offset(src, 3, 1).unwrap()..], "x");
        assert_eq!(offset(src, 9, 1), None);
    }
}
