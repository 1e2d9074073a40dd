//! The query string of an OSS request: decoded `(name, value)` pairs in the order sent, with
//! the lookups the router, the classification and the operations make.

use percent_encoding::percent_decode_str;

use super::error::OssError;

/// Query parameters, decoded, in the order sent.
#[derive(Debug, Default, Clone)]
pub struct Query {
    /// `(name, value)`; a parameter without `=` has an empty value.
    pub pairs: Vec<(String, String)>,
}

impl Query {
    /// Splits and decodes the query. `+` stays a plus: OSS signs `%2B`-encoded values and the SDKs
    /// never use `+` for a space.
    pub fn parse(raw: &str) -> Result<Query, OssError> {
        let mut pairs = Vec::new();
        for item in raw.split('&').filter(|item| !item.is_empty()) {
            let (name, value) = item.split_once('=').unwrap_or((item, ""));
            let invalid = |_| OssError::invalid_argument("Invalid query string.", "query", item);
            let name = percent_decode_str(name).decode_utf8().map_err(invalid)?;
            let value = percent_decode_str(value).decode_utf8().map_err(invalid)?;
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(Query { pairs })
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// True when `name` is present (with or without a value: `?uploads` and `?uploads=` alike,
    /// §6.4 point 2).
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }

    /// True when the request asked for `encoding-type=url`.
    pub fn url_encoding(&self) -> bool {
        self.get("encoding-type") == Some("url")
    }
}
