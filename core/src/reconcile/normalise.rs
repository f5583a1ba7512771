//! Normalisation of references and names: case, accents, separators, prefixes, leading zeros,
//! ISO 11649 check digits, French legal forms, bounded edit distance.

/// Folds one character to upper-case ASCII (accents stripped); `None` for anything that is
/// not a letter or a digit (a separator).
fn fold_char(c: char) -> Option<char> {
    if c.is_ascii_alphanumeric() {
        return Some(c.to_ascii_uppercase());
    }
    let f = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => 'A',
        'ç' | 'Ç' => 'C',
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'E',
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'I',
        'ñ' | 'Ñ' => 'N',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' => 'O',
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'U',
        'ý' | 'ÿ' | 'Ý' => 'Y',
        'œ' | 'Œ' => 'O',
        'æ' | 'Æ' => 'A',
        _ => return None,
    };
    Some(f)
}

/// Upper-case letters and digits only: `"Fac n° vt-2026/00042"` → `"FACNVT202600042"`.
pub fn compact(s: &str) -> String {
    s.chars().filter_map(fold_char).collect()
}

/// [`compact`] into a buffer (cleared first), to avoid an allocation per call in loops.
pub fn compact_into(s: &str, out: &mut String) {
    out.clear();
    out.extend(s.chars().filter_map(fold_char));
}

/// Splits text into tokens at separators and at every letter/digit boundary:
/// `"VT2026_000042"` → `["VT", "2026", "000042"]`.
pub fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_digit = false;
    for c in s.chars() {
        match fold_char(c) {
            Some(f) => {
                let d = f.is_ascii_digit();
                if !cur.is_empty() && d != cur_digit {
                    out.push(std::mem::take(&mut cur));
                }
                cur_digit = d;
                cur.push(f);
            }
            None => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A digit token without its leading zeros (`"000042"` → `"42"`, `"000"` → `"0"`); letters
/// are kept as they are.
pub fn strip_zeros(t: &str) -> &str {
    if t.bytes().all(|b| b.is_ascii_digit()) {
        let s = t.trim_start_matches('0');
        if s.is_empty() {
            &t[t.len() - 1..]
        } else {
            s
        }
    } else {
        t
    }
}

/// The signature of a reference: its tokens, digit groups without leading zeros, joined by
/// dots: `"VT2026_000042"` and `"vt 2026-42"` both give `"VT.2026.42"`.
pub fn signature(parts: &[String]) -> String {
    let mut s = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        s.push_str(strip_zeros(p));
    }
    s
}

/// The keys under which an invoice reference is indexed: the compact form, the signature, and
/// the signature of its digit groups alone (when it has two or more, e.g. `"2026.42"`).
pub fn reference_keys(reference: &str) -> Vec<String> {
    let mut keys = Vec::with_capacity(3);
    let c = compact(reference);
    if c.len() < 3 {
        return keys;
    }
    let t = tokens(reference);
    keys.push(c);
    let sig = signature(&t);
    if !keys.contains(&sig) {
        keys.push(sig);
    }
    let digits: Vec<String> = t
        .iter()
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        .cloned()
        .collect();
    if digits.len() >= 2 && digits.len() < t.len() {
        let ds = signature(&digits);
        if !keys.contains(&ds) {
            keys.push(ds);
        }
    }
    keys
}

/// The trailing sequence number of a reference, without leading zeros (`"VT2026_000042"` →
/// `"42"`), when it ends with digits.
pub fn sequence(reference: &str) -> Option<String> {
    let t = tokens(reference);
    let last = t.last()?;
    if last.bytes().all(|b| b.is_ascii_digit()) {
        Some(strip_zeros(last).to_owned())
    } else {
        None
    }
}

/// Lookup keys from free text (remittance, end-to-end id): every window of up to 5
/// consecutive tokens, as compact text and as a signature; a digit token starting with a
/// year (19xx/20xx) and longer than 4 digits is also tried split after the year, so that
/// `"VT202642"` finds `"VT2026_000042"` once the zeros were dropped.
pub fn text_keys(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_text_key(text, |k| out.push(k.to_owned()));
    out.sort_unstable();
    out.dedup();
    out
}

/// Calls `f` with each lookup key of [`text_keys`] (possibly repeated), without allocating
/// one string per key.
pub fn for_each_text_key(text: &str, mut f: impl FnMut(&str)) {
    let mut t = tokens(text);
    if t.len() > 64 {
        t.truncate(64);
    }
    // Split glued year + sequence digit runs as an extra variant.
    let mut extra: Vec<Vec<String>> = Vec::new();
    for (i, p) in t.iter().enumerate() {
        if extra.len() < 4
            && p.len() > 4
            && p.len() <= 12
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p.starts_with("19") || p.starts_with("20"))
        {
            let mut v = t.clone();
            let (y, rest) = p.split_at(4);
            v[i] = rest.to_owned();
            v.insert(i, y.to_owned());
            extra.push(v);
        }
    }
    let mut c = String::new();
    let mut sig = String::new();
    for v in std::iter::once(&t).chain(extra.iter()) {
        for i in 0..v.len() {
            c.clear();
            sig.clear();
            for (j, part) in v.iter().enumerate().skip(i).take(5) {
                c.push_str(part);
                if j > i {
                    sig.push('.');
                }
                sig.push_str(strip_zeros(part));
                if c.len() >= 3 {
                    f(&c);
                    if sig != c {
                        f(&sig);
                    }
                }
            }
        }
    }
}

/// Digit tokens of the text without leading zeros (candidate sequence numbers).
pub fn numbers(text: &str) -> Vec<String> {
    let mut v: Vec<String> = tokens(text)
        .into_iter()
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 12)
        .map(|p| strip_zeros(&p).to_owned())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// [`numbers`] that end a reference: digit tokens not followed by another digit group
/// (`"2026/0476"` gives `"476"`, not the year `"2026"`).
pub fn trailing_numbers(text: &str) -> Vec<String> {
    let t = tokens(text);
    let is_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let mut v: Vec<String> = t
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            is_digits(p) && p.len() <= 12 && !t.get(i + 1).is_some_and(|n| is_digits(n))
        })
        .map(|(_, p)| strip_zeros(p).to_owned())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Whether `s` (any case, blanks allowed) is an ISO 11649 creditor reference with valid check
/// digits: `RF` + 2 digits + 1 to 21 letters or digits, mod 97 of the rearranged number is 1.
pub fn rf_valid(s: &str) -> bool {
    let c = compact(s);
    if c.len() < 5 || c.len() > 25 || !c.starts_with("RF") {
        return false;
    }
    let b = c.as_bytes();
    if !b[2].is_ascii_digit() || !b[3].is_ascii_digit() {
        return false;
    }
    let rearranged = c[4..].bytes().chain(c[..4].bytes());
    let mut rem: u32 = 0;
    for ch in rearranged {
        let v = if ch.is_ascii_digit() {
            u32::from(ch - b'0')
        } else {
            u32::from(ch - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// RF references in the text (tokens `RF` followed by check digits and payload).
pub fn rf_references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for w in text.split(|c: char| c.is_whitespace() || c == ':' || c == '/' || c == ',') {
        let c = compact(w);
        if c.starts_with("RF") && rf_valid(&c) {
            out.push(c);
        }
    }
    // An RF reference printed in groups of four: "RF18 5390 0754 7034".
    let c = compact(text);
    let mut start = 0;
    while let Some(p) = c[start..].find("RF") {
        let at = start + p;
        for end in (at + 5..=(at + 25).min(c.len())).rev() {
            if rf_valid(&c[at..end]) {
                out.push(c[at..end].to_owned());
                break;
            }
        }
        start = at + 2;
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Words that carry no identity in a company or person name: legal forms, civilities,
/// articles.
const NAME_STOP: &[&str] = &[
    "SARL",
    "SAS",
    "SASU",
    "EURL",
    "SA",
    "SCI",
    "SNC",
    "SCOP",
    "SELARL",
    "GIE",
    "EI",
    "EIRL",
    "ETS",
    "ETABLISSEMENTS",
    "STE",
    "SOCIETE",
    "SOC",
    "CIE",
    "M",
    "MME",
    "MR",
    "MLLE",
    "MM",
    "MONSIEUR",
    "MADAME",
    "MADEMOISELLE",
    "ET",
    "DE",
    "DU",
    "LA",
    "LE",
    "LES",
    "DES",
    "L",
    "D",
    "AND",
    "THE",
    "LTD",
    "GMBH",
    "SPA",
    "SL",
    "BV",
    "INC",
    "CO",
    "GROUPE",
    "OU",
    "MLE",
    "MMES",
    "MRS",
    "SELAS",
    "SCP",
    "SCM",
];

/// Legal forms and civilities (not articles): what a bank adds to, drops from or abbreviates
/// in a name.
const LEGAL_OR_CIVILITY: &[&str] = &[
    "SARL",
    "SAS",
    "SASU",
    "EURL",
    "SA",
    "SCI",
    "SNC",
    "SCOP",
    "SELARL",
    "SELAS",
    "SCP",
    "SCM",
    "GIE",
    "EI",
    "EIRL",
    "ETS",
    "ETABLISSEMENTS",
    "STE",
    "SOC",
    "SOCIETE",
    "CIE",
    "M",
    "MME",
    "MR",
    "MLLE",
    "MLE",
    "MM",
    "MMES",
    "MRS",
    "MONSIEUR",
    "MADAME",
    "MADEMOISELLE",
    "LTD",
    "GMBH",
    "SPA",
    "SL",
    "BV",
    "INC",
];

/// Whether a (compact) word is a legal form or a civility.
pub fn is_legal_or_civility(w: &str) -> bool {
    LEGAL_OR_CIVILITY.contains(&w)
}

/// Whether a (compact) word carries no identity in a name: a legal form, a civility, an
/// article.
pub fn is_stop_word(w: &str) -> bool {
    NAME_STOP.contains(&w) || LEGAL_OR_CIVILITY.contains(&w)
}

/// The identity tokens of a name, upper-case without accents, legal forms and civilities
/// removed, sorted (so word order does not matter).
pub fn name_tokens(name: &str) -> Vec<String> {
    let mut v: Vec<String> = name
        .split(|c: char| !c.is_alphanumeric())
        .map(compact)
        .filter(|w| !w.is_empty() && !is_stop_word(w))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Similarity of two token sets in per-mille: twice the matching tokens over the total
/// (Dice), a token matching another at edit distance 1 when both have 5 letters or more.
pub fn name_similarity(a: &[String], b: &[String]) -> u16 {
    if a.is_empty() || b.is_empty() {
        return 0;
    }
    let mut matched = 0usize;
    for x in a {
        // Equal, one edit apart (5 letters or more), or cut short by the bank's field length
        // (a prefix of 4 letters or more).
        if b.contains(x)
            || b.iter().any(|y| {
                (x.len() >= 5 && y.len() >= 5 && edit_distance(x, y, 1).is_some())
                    || (x.len() >= 4
                        && y.len() >= 4
                        && (x.starts_with(y.as_str()) || y.starts_with(x.as_str())))
            })
        {
            matched += 1;
        }
    }
    let m = (2 * matched * 1000) / (a.len() + b.len());
    u16::try_from(m.min(1000)).unwrap_or(1000)
}

/// The last word of a name as printed on a statement, compacted, when the name is long
/// enough to have been cut at the bank's field length (banks print 18 to 70 characters of
/// it): that word may be the beginning of a longer one ("SAINT-MIC", "VAL DE LO").
pub fn cut_tail(name: &str) -> Option<String> {
    if name.trim_end().chars().count() < 18 || !name.trim_end().ends_with(char::is_alphanumeric) {
        return None;
    }
    let last = name
        .split(|c: char| !c.is_alphanumeric())
        .rfind(|w| !w.is_empty())?;
    let c = compact(last);
    (!c.is_empty()).then_some(c)
}

/// [`name_similarity`] of a statement name `a` to a ledger name `b`, where `tail` (see
/// [`cut_tail`]) may have been cut: it matches a word of `b` it begins, and a tail that
/// begins a legal form or civility (the "E" of a cut "EURL") is not counted.
pub fn payer_name_similarity(a: &[String], b: &[String], tail: Option<&str>) -> u16 {
    let Some(t) = tail.filter(|t| a.iter().any(|x| x == t)) else {
        return name_similarity(a, b);
    };
    if b.iter().any(|y| y == t) {
        return name_similarity(a, b);
    }
    if b.iter().any(|y| y.starts_with(t)) {
        // The cut word counts as the word it begins.
        let full = b
            .iter()
            .find(|y| y.starts_with(t))
            .cloned()
            .unwrap_or_default();
        let a2: Vec<String> = a
            .iter()
            .map(|x| if x == t { full.clone() } else { x.clone() })
            .collect();
        return name_similarity(&a2, b);
    }
    if NAME_STOP.iter().any(|w| w.starts_with(t)) {
        let a2: Vec<String> = a.iter().filter(|x| *x != t).cloned().collect();
        return name_similarity(&a2, b);
    }
    name_similarity(a, b)
}

/// Optimal-string-alignment distance (edits and adjacent transpositions) when it is at most
/// `max`, else `None`. Bounded: stops early once every cell of a row exceeds `max`.
pub fn edit_distance(a: &str, b: &str, max: u8) -> Option<u8> {
    let a = a.as_bytes();
    let b = b.as_bytes();
    let max = usize::from(max);
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    // Each edit changes the character counts by at most 2 (a transposition by none): strings
    // whose counts differ more are farther apart. Counts are folded into 64 buckets, which
    // only lowers the difference, so the bound stays valid. Cheap, and most pairs stop here.
    let mut hist = [0i16; 64];
    for &x in a {
        hist[usize::from(x & 63)] += 1;
    }
    for &x in b {
        hist[usize::from(x & 63)] -= 1;
    }
    if hist
        .iter()
        .map(|h| usize::from(h.unsigned_abs()))
        .sum::<usize>()
        > 2 * max
    {
        return None;
    }
    let n = b.len();
    if n >= 64 {
        return edit_distance_long(a, b, max);
    }
    // Three rows on the stack: references are short.
    let mut rows = [[0u8; 64]; 3];
    let (mut p2, mut p1, mut c) = (0usize, 1usize, 2usize);
    for (j, v) in rows[p1].iter_mut().enumerate().take(n + 1) {
        *v = u8::try_from(j).unwrap_or(u8::MAX);
    }
    for i in 1..=a.len() {
        rows[c][0] = u8::try_from(i).unwrap_or(u8::MAX);
        let mut row_min = rows[c][0];
        for j in 1..=n {
            let cost = u8::from(a[i - 1] != b[j - 1]);
            let mut v = rows[p1][j]
                .saturating_add(1)
                .min(rows[c][j - 1].saturating_add(1))
                .min(rows[p1][j - 1].saturating_add(cost));
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(rows[p2][j - 2].saturating_add(1));
            }
            rows[c][j] = v;
            row_min = row_min.min(v);
        }
        if usize::from(row_min) > max {
            return None;
        }
        let old = p2;
        p2 = p1;
        p1 = c;
        c = old;
    }
    let d = rows[p1][n];
    if usize::from(d) <= max {
        Some(d)
    } else {
        None
    }
}

fn edit_distance_long(a: &[u8], b: &[u8], max: usize) -> Option<u8> {
    let n = b.len();
    let mut prev2 = vec![0usize; n + 1];
    let mut prev: Vec<usize> = (0..=n).collect();
    let mut cur = vec![0usize; n + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=n {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[n];
    if d <= max {
        u8::try_from(d).ok()
    } else {
        None
    }
}

/// SIREN candidates in the text: 9-digit runs, the first 9 digits of 14-digit SIRETs and the
/// last 9 of French VAT ids (`FR` + 2 + 9 digits), also when printed in groups of three.
pub fn siren_candidates(text: &str) -> Vec<String> {
    let t = tokens(text);
    let mut out = Vec::new();
    for i in 0..t.len() {
        let mut run = String::new();
        for p in &t[i..(i + 5).min(t.len())] {
            if !p.bytes().all(|b| b.is_ascii_digit()) {
                break;
            }
            run.push_str(p);
            match run.len() {
                9 => out.push(run.clone()),
                11 if i > 0 && t[i - 1] == "FR" => out.push(run[2..].to_owned()),
                14 => out.push(run[..9].to_owned()),
                _ => {}
            }
        }
    }
    out.retain(|s| crate::siren::luhn_valid(s));
    out.sort_unstable();
    out.dedup();
    out
}

/// A normalised IBAN: upper-case, no blanks.
pub fn iban(s: &str) -> String {
    compact(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_sloppy_forms() {
        let keys = reference_keys("VT2026_000042");
        for text in [
            "Fac n° vt-2026/00042",
            "FACT VT2026 42",
            "vt2026000042",
            "VT202642 merci",
        ] {
            let tk = text_keys(text);
            assert!(
                keys.iter().any(|k| tk.contains(k)),
                "{text}: {tk:?} vs {keys:?}"
            );
        }
        assert_eq!(sequence("VT2026_000042").as_deref(), Some("42"));
    }

    #[test]
    fn rf_check_digits() {
        assert!(rf_valid("RF18 5390 0754 7034"));
        assert!(rf_valid("RF18539007547034"));
        assert!(!rf_valid("RF19539007547034"));
        assert_eq!(
            rf_references("Paiement RF18 5390 0754 7034 merci"),
            vec!["RF18539007547034"]
        );
    }

    #[test]
    fn names_ignore_legal_forms_and_order() {
        let a = name_tokens("SARL Dupont & Fils");
        let b = name_tokens("DUPONT FILS SAS");
        assert_eq!(name_similarity(&a, &b), 1000);
        let c = name_tokens("M. Jean Durand");
        let d = name_tokens("MME DURAND JEAN");
        assert_eq!(name_similarity(&c, &d), 1000);
        assert_eq!(
            name_similarity(
                &name_tokens("Boulangerie Martin"),
                &name_tokens("Garage Petit")
            ),
            0
        );
    }

    #[test]
    fn names_cut_at_the_field_length() {
        let cust = name_tokens("Conseil Grangeugronr Saint-Michel EURL");
        let printed = "CONSEIL GRANGEUGRONR SAINT-MICHEL E";
        let t = cut_tail(printed);
        assert_eq!(t.as_deref(), Some("E"));
        assert_eq!(
            payer_name_similarity(&name_tokens(printed), &cust, t.as_deref()),
            1000
        );
        let printed = "SA CHARPENTE MANTROUBEULL SAINT-MIC";
        let cust = name_tokens("Charpente Mantroubeull Saint-Michel SA");
        assert_eq!(
            payer_name_similarity(&name_tokens(printed), &cust, cut_tail(printed).as_deref()),
            1000
        );
        // A short name is not cut.
        assert_eq!(cut_tail("GARAGE MAR"), None);
    }

    #[test]
    fn edit_distance_bounded_with_transpositions() {
        assert_eq!(edit_distance("VT2026000042", "VT2026000024", 2), Some(1));
        assert_eq!(edit_distance("VT2026000042", "VT2026000043", 2), Some(1));
        assert_eq!(edit_distance("VT2026000042", "VT2026001111", 2), None);
    }

    #[test]
    fn siren_in_text() {
        // 732829320 is a Luhn-valid SIREN.
        assert_eq!(
            siren_candidates("virement FR44 732829320 facture"),
            vec!["732829320"]
        );
        assert_eq!(
            siren_candidates("SIRET 732 829 320 00074"),
            vec!["732829320"]
        );
    }
}
