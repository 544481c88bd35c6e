//! The examples' command lines: `--flag value` pairs, nothing else.

/// The process's arguments as `(flag, value)` pairs; a flag without a value is an error.
pub fn flag_pairs() -> anyhow::Result<Vec<(String, String)>> {
    let mut args = std::env::args().skip(1);
    let mut pairs = Vec::new();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
        pairs.push((flag, value));
    }
    Ok(pairs)
}
