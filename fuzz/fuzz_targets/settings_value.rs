//! Settings value parsing: whatever the raw `PLUGIN_*` string, [`Value::parse`] never panics and
//! keeps its promises.
//!
//! - Lists (comma, `\,` escapes, JSON arrays): no item is blank; a comma list's items are
//!   trimmed and there are at most as many as commas + 1; any parsed list read back from its
//!   JSON array form, and (when unambiguous) from its escaped comma form, is the same list.
//! - Booleans are exactly Go's `strconv.ParseBool` set, nothing else.
//! - Maps read back from their JSON object form are the same map.
//! - Integers print back to a string that parses to the same number.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use longshore_core::settings::{List, Map, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    lists(raw);
    booleans(raw);
    maps(raw);
    integers(raw);
    assert_eq!(String::parse(raw).unwrap(), raw.trim());
});

fn lists(raw: &str) {
    let parsed = List::parse(raw);
    assert_eq!(
        format!("{parsed:?}"),
        format!("{:?}", List::parse(raw)),
        "not deterministic"
    );
    let trimmed = raw.trim();
    let Ok(list) = parsed else {
        // Only a JSON array can fail: a comma list always parses.
        assert!(trimmed.starts_with('['), "comma list refused: {raw:?}");
        return;
    };
    for item in &list.0 {
        assert!(!item.trim().is_empty(), "blank item in {raw:?}");
    }
    // The JSON form of any list is that list again (items may hold commas, quotes, anything).
    let json = serde_json::to_string(&list.0).unwrap();
    assert_eq!(
        List::parse(&json).unwrap(),
        list,
        "JSON round trip of {raw:?}"
    );

    if trimmed.starts_with('[') {
        return;
    }
    assert_eq!(list.0, List::split(trimmed, ','));
    assert!(list.0.len() <= trimmed.matches(',').count() + 1);
    for item in &list.0 {
        assert_eq!(item, item.trim(), "untrimmed item in {raw:?}");
    }
    // The escaped comma form reads back the same, unless an item ends in `\` (it would escape
    // the separator) or the text would start with `[` (it would be read as JSON).
    let escaped: Vec<String> = list.0.iter().map(|i| i.replace(',', "\\,")).collect();
    let joined = escaped.join(",");
    if !list.0.iter().any(|i| i.ends_with('\\')) && !joined.starts_with('[') {
        assert_eq!(
            List::parse(&joined).unwrap(),
            list,
            "comma round trip of {raw:?} via {joined:?}"
        );
    }
}

fn booleans(raw: &str) {
    let want = match raw.trim() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    };
    match bool::parse(raw) {
        Ok(b) => assert_eq!(Some(b), want, "{raw:?}"),
        Err(e) => {
            assert_eq!(want, None, "{raw:?} refused");
            assert!(e.contains("is not a boolean"), "{e}");
        }
    }
}

fn maps(raw: &str) {
    let Ok(map) = Map::parse(raw) else {
        return;
    };
    let obj: BTreeMap<&String, &String> = map.0.iter().collect();
    let json = serde_json::to_string(&obj).unwrap();
    assert_eq!(
        Map::parse(&json).unwrap(),
        map,
        "JSON round trip of {raw:?}"
    );
}

fn integers(raw: &str) {
    if let Ok(n) = i64::parse(raw) {
        assert_eq!(i64::parse(&n.to_string()).unwrap(), n);
    }
    if let Ok(n) = u16::parse(raw) {
        assert_eq!(u64::parse(raw).unwrap(), u64::from(n));
    }
}
