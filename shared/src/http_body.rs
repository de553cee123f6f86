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

/// A server's error answer on one short line: the `message` of each JSON object `list` picks
/// from it, joined by `; `, else the body as it is (plain text, or HTML from a proxy), folded by
/// [`crate::retry::server_message`]. An error page can be anything a proxy sends: only its first
/// 16 KiB are read.
#[cfg(any(feature = "nexus", feature = "artifactory"))]
pub(crate) async fn error_message(
    resp: reqwest::Response,
    list: fn(&serde_json::Value) -> Option<Vec<&serde_json::Value>>,
) -> String {
    let text = match read_capped(resp, 16 * 1024).await {
        Ok((bytes, _)) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    };
    let from_json = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            let msgs: Vec<String> = list(&v)?
                .iter()
                .filter_map(|i| i.get("message").and_then(|m| m.as_str()))
                .map(str::to_string)
                .collect();
            (!msgs.is_empty()).then(|| msgs.join("; "))
        });
    crate::retry::server_message(&from_json.unwrap_or(text))
}
