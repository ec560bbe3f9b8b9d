//! What an outbound call's error may say in a log: never a query string (WeChat's takes the
//! app secret and the authorization code) and never the user and password of a URL. Every
//! gateway maps its transport errors through here before they are given context or logged.

/// A reqwest error without its URL, naming only the host it went to.
pub fn http(error: reqwest::Error) -> anyhow::Error {
    let host = error.url().and_then(|u| u.host_str().map(str::to_string));
    let error = error.without_url();
    match host {
        Some(host) => anyhow::Error::new(error).context(format!("calling {host}")),
        None => anyhow::Error::new(error),
    }
}

/// `scheme://user:password@host/path?query#fragment` → `scheme://host/path`.
pub fn url(raw: &str) -> String {
    let (scheme, rest) = match raw.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, raw),
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    match scheme {
        Some(scheme) => format!("{scheme}://{host}{path}"),
        None => format!("{host}{path}"),
    }
}

/// A message with every URL in it passed through [`url`].
pub fn text(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for (i, word) in message.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.contains("://") {
            // Keep what surrounds a URL: `(https://…?secret=…):` → `(https://…):`.
            let start = word.find(|c: char| c.is_ascii_alphanumeric()).unwrap_or(0);
            let end = word[start..]
                .find([')', ']', '"', '\'', '>', ','])
                .map_or(word.len(), |e| start + e);
            out.push_str(&word[..start]);
            out.push_str(&url(&word[start..end]));
            out.push_str(&word[end..]);
        } else {
            out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_credentials_are_left_out() {
        assert_eq!(
            url("https://api.weixin.qq.com/sns/oauth2/access_token?appid=a&secret=s&code=c"),
            "https://api.weixin.qq.com/sns/oauth2/access_token"
        );
        assert_eq!(
            url("smtps://user:pa%40ss@mail.example:465"),
            "smtps://mail.example:465"
        );
        assert_eq!(url("http://h/p#frag"), "http://h/p");
        assert_eq!(
            text("error sending request for url (https://x.example/a?secret=s&code=c): refused"),
            "error sending request for url (https://x.example/a): refused"
        );
        assert_eq!(text("no url here"), "no url here");
    }
}
