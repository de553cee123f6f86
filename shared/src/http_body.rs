//! Reading a server's answer on our terms: never more than a stated number of bytes, whatever
//! the server says or sends (a hostile registry answered 400 with a 300 MiB body).

/// At most `cap` bytes of a body, and whether there was more (the rest is never read).
pub(crate) async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = cap - out.len();
        if chunk.len() > room {
            out.extend_from_slice(&chunk[..room]);
            return Ok((out, true));
        }
        out.extend_from_slice(&chunk);
    }
    Ok((out, false))
}
