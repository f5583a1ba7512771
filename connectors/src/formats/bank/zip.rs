//! Minimal ZIP reader for zipped statements (some banks and OCA's importer ship camt in a
//! ZIP): the central directory is read, members are stored or deflated (methods 0 and 8).

use std::io::Read;

/// Largest member accepted once inflated (a guard against ZIP bombs).
const MAX_MEMBER: u64 = 1 << 30;

fn u16_at(b: &[u8], i: usize) -> Option<usize> {
    Some(usize::from(u16::from_le_bytes([
        *b.get(i)?,
        *b.get(i + 1)?,
    ])))
}

fn u32_at(b: &[u8], i: usize) -> Option<usize> {
    let v = u32::from_le_bytes([*b.get(i)?, *b.get(i + 1)?, *b.get(i + 2)?, *b.get(i + 3)?]);
    usize::try_from(v).ok()
}

/// The file members of a ZIP archive (name, content), directories and `__MACOSX` skipped.
pub(crate) fn members(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let bad = || "corrupt ZIP archive (central directory unreadable)".to_owned();
    let start = bytes.len().saturating_sub(65_557);
    let eocd = (start..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| bytes[i..].starts_with(b"PK\x05\x06"))
        .ok_or_else(bad)?;
    let count = u16_at(bytes, eocd + 10).ok_or_else(bad)?;
    let mut p = u32_at(bytes, eocd + 16).ok_or_else(bad)?;
    let mut out = Vec::new();
    for _ in 0..count {
        if !bytes.get(p..).is_some_and(|b| b.starts_with(b"PK\x01\x02")) {
            return Err(bad());
        }
        let method = u16_at(bytes, p + 10).ok_or_else(bad)?;
        let csize = u32_at(bytes, p + 20).ok_or_else(bad)?;
        let usize_ = u32_at(bytes, p + 24).ok_or_else(bad)?;
        let nlen = u16_at(bytes, p + 28).ok_or_else(bad)?;
        let elen = u16_at(bytes, p + 30).ok_or_else(bad)?;
        let clen = u16_at(bytes, p + 32).ok_or_else(bad)?;
        let local = u32_at(bytes, p + 42).ok_or_else(bad)?;
        let name =
            String::from_utf8_lossy(bytes.get(p + 46..p + 46 + nlen).ok_or_else(bad)?).into_owned();
        p += 46 + nlen + elen + clen;
        if name.ends_with('/') || name.starts_with("__MACOSX") {
            continue;
        }
        if !bytes
            .get(local..)
            .is_some_and(|b| b.starts_with(b"PK\x03\x04"))
        {
            return Err(bad());
        }
        let lnlen = u16_at(bytes, local + 26).ok_or_else(bad)?;
        let lelen = u16_at(bytes, local + 28).ok_or_else(bad)?;
        let data_start = local + 30 + lnlen + lelen;
        let data = bytes
            .get(data_start..data_start.saturating_add(csize))
            .ok_or_else(bad)?;
        let content = match method {
            0 => data.to_vec(),
            8 => {
                let mut v = Vec::with_capacity(usize_.min(1 << 24));
                flate2::read::DeflateDecoder::new(data)
                    .take(MAX_MEMBER)
                    .read_to_end(&mut v)
                    .map_err(|e| format!("ZIP member {name}: cannot inflate: {e}"))?;
                v
            }
            m => {
                return Err(format!(
                "ZIP member {name}: compression method {m} not supported (only stored and deflate)"
            ))
            }
        };
        out.push((name, content));
    }
    Ok(out)
}
