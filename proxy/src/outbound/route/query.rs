//! Query parameters as the app will read them: the string split on `&`,
//! each name and value decoded the way servers decode forms (`%XX` escapes,
//! `+` for a space). Matching the raw text instead would let `wh%61le` slip
//! past a rule for `whale` to a backend that reads `whale` all the same.

use std::borrow::Cow;

/// The decoded value of the first parameter of `query` whose decoded name
/// is `name` (a repeated parameter is read as its first value, as most
/// servers do). A parameter without `=` has the empty value.
pub(super) fn first<'q>(query: &'q str, name: &str) -> Option<Cow<'q, [u8]>> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .find_map(|pair| {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(n).as_ref() == name.as_bytes()).then(|| decode(v))
        })
}

/// Borrowed unless there is something to decode. A malformed escape is
/// kept as written, as lenient servers do.
fn decode(s: &str) -> Cow<'_, [u8]> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s.as_bytes());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => match (digit(b.get(i + 1)), digit(b.get(i + 2))) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    Cow::Owned(out)
}

fn digit(c: Option<&u8>) -> Option<u8> {
    let d = char::from(*c?).to_digit(16)?;
    u8::try_from(d).ok()
}

#[cfg(test)]
mod tests;
