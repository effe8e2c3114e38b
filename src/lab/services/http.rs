//! The lab's HTTP service: one request, one small text response, and the
//! server closes first — the textbook passive close for the client.
//!
//! Parsing and response building are pure (and tested with tables); only
//! [`handle`] does I/O. The request head is bounded by [`MAX_HEAD`] bytes
//! and [`REQUEST_TIMEOUT`]; a request body is never read (a lingering close
//! drains it, so the close stays orderly).

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::conn::{self, Got};

/// Largest request head (request line and header fields) accepted.
pub const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request head. Long enough to
/// type `GET / HTTP/1.0` into `nc` by hand.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The methods served; any other is answered 405.
const ALLOW: &str = "GET, HEAD";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

/// A request the service answers with 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub target: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    /// The request line as received, for the response body and the log.
    pub line: String,
}

/// Why a request is refused, with the status code that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub why: String,
    /// The request line, when one could be read (for the log).
    pub line: Option<String>,
}

impl Rejection {
    fn new(status: u16, why: impl Into<String>) -> Rejection {
        Rejection {
            status,
            why: why.into(),
            line: None,
        }
    }
}

/// The reason phrase of the status codes this service sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// Where the request head ends (the index just past its empty line), if
/// it is complete. Accepts CRLF and, as RFC 9112 §2.2 allows, bare LF.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(nl) = buf[i..].iter().position(|&b| b == b'\n') {
        let end = i + nl + 1;
        let line = &buf[i..i + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // Empty lines before the request line are skipped (RFC 9112 §2.2).
        let before_request_line = buf[..i].iter().all(|&b| b == b'\r' || b == b'\n');
        if line.is_empty() && !before_request_line {
            return Some(end);
        }
        i = end;
    }
    None
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Parses a complete request head (as delimited by [`head_end`]). Pure.
pub fn parse(head: &[u8]) -> Result<Request, Rejection> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .skip_while(|l| l.is_empty());
    let raw_line = lines.next().unwrap_or_default();
    if !raw_line.iter().all(|&b| (0x20..0x7f).contains(&b)) {
        return Err(Rejection::new(
            400,
            "the request line holds a control or non-ASCII character",
        ));
    }
    let line = String::from_utf8_lossy(raw_line).into_owned();
    let with_line = |mut r: Rejection| {
        r.line = Some(line.clone());
        r
    };
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(with_line(Rejection::new(
            400,
            "the request line is not METHOD SP TARGET SP VERSION",
        )));
    };
    if !is_token(method.as_bytes()) {
        return Err(with_line(Rejection::new(400, "the method is not a token")));
    }
    let Some(digits) = version.strip_prefix("HTTP/") else {
        return Err(with_line(Rejection::new(
            400,
            "the version is not HTTP/x.y",
        )));
    };
    match digits.as_bytes() {
        b"1.0" | b"1.1" => {}
        [a, b'.', b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            return Err(with_line(Rejection::new(
                505,
                format!("{version} is not spoken here; use HTTP/1.0 or HTTP/1.1"),
            )));
        }
        _ => {
            return Err(with_line(Rejection::new(
                400,
                "the version is not HTTP/x.y",
            )));
        }
    }
    if !(target.starts_with('/') || target.contains("://")) {
        return Err(with_line(Rejection::new(
            400,
            "the target is neither a path (/...) nor an absolute URL",
        )));
    }
    for field in lines.take_while(|l| !l.is_empty()) {
        if field.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            return Err(with_line(Rejection::new(
                400,
                "a header field is folded over lines (obsolete, RFC 9112 §5.2)",
            )));
        }
        let Some(colon) = field.iter().position(|&b| b == b':') else {
            return Err(with_line(Rejection::new(400, "a header field has no ':'")));
        };
        if !is_token(&field[..colon]) {
            return Err(with_line(Rejection::new(
                400,
                "a header field name is not a token (or has space before ':')",
            )));
        }
        if field[colon + 1..]
            .iter()
            .any(|&b| b < 0x20 && b != b'\t' || b == 0x7f)
        {
            return Err(with_line(Rejection::new(
                400,
                "a header field value holds a control character",
            )));
        }
    }
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        other => {
            return Err(with_line(Rejection::new(
                405,
                format!("{other} is not served here; use GET or HEAD"),
            )));
        }
    };
    Ok(Request {
        method,
        target: target.into(),
        version: version.into(),
        line,
    })
}

/// Who answered whom, for the response body.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub lab: &'a str,
    /// The lab address and port the client connected to.
    pub local: SocketAddr,
    /// The client.
    pub remote: SocketAddr,
}

/// The complete response to a parsed (or refused) request. Pure.
pub fn response(request: &Result<Request, Rejection>, answer: &Answer) -> Vec<u8> {
    let (status, body, head_only) = match request {
        Ok(r) => (
            200,
            format!(
                "nettool lab {}: {} answered {}\nrequest: {}\n\
                 this server closes the connection after the response.\n",
                answer.lab, answer.local, answer.remote, r.line
            ),
            r.method == Method::Head,
        ),
        Err(rej) => (
            rej.status,
            format!("{} {}: {}\n", rej.status, reason(rej.status), rej.why),
            false,
        ),
    };
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nServer: nettool-lab\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\n",
        reason(status),
        body.len()
    );
    if status == 405 {
        out.push_str(&format!("Allow: {ALLOW}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    if !head_only {
        out.push_str(&body);
    }
    out.into_bytes()
}

/// What happened on one connection, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The status sent; `None` when the client left (or the server
    /// stopped) before a request arrived and nothing was sent.
    pub status: Option<u16>,
    pub line: Option<String>,
}

/// Reads one request head, answers it, and closes first (see the module
/// documentation for the bounds).
pub fn handle(
    mut stream: TcpStream,
    lab: &str,
    timeout: Duration,
    stop: &AtomicBool,
) -> io::Result<Served> {
    let answer = Answer {
        lab,
        local: stream.local_addr()?,
        remote: stream.peer_addr()?,
    };
    conn::prepare(&stream)?;
    let deadline = Instant::now() + timeout;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    let request = loop {
        // Only the first MAX_HEAD bytes may hold the head.
        if let Some(end) = head_end(&head[..head.len().min(MAX_HEAD)]) {
            break parse(&head[..end]);
        }
        if head.len() >= MAX_HEAD {
            break Err(Rejection::new(
                431,
                format!("the request head is larger than {MAX_HEAD} bytes"),
            ));
        }
        match conn::read_until(&mut stream, &mut buf, deadline, stop)? {
            Got::Data(n) => head.extend_from_slice(&buf[..n]),
            Got::Eof if head.is_empty() => {
                return Ok(Served {
                    status: None,
                    line: None,
                });
            }
            Got::Eof => {
                break Err(Rejection::new(
                    400,
                    "the request ended before its empty line",
                ));
            }
            Got::TimedOut => {
                break Err(Rejection::new(
                    408,
                    format!("no complete request within {} s", timeout.as_secs()),
                ));
            }
            Got::Stopped => {
                return Ok(Served {
                    status: None,
                    line: None,
                });
            }
        }
    };
    stream.write_all(&response(&request, &answer))?;
    conn::linger_close(stream, stop);
    Ok(match request {
        Ok(r) => Served {
            status: Some(200),
            line: Some(r.line),
        },
        Err(rej) => Served {
            status: Some(rej.status),
            line: rej.line,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::crlf(b"GET / HTTP/1.0\r\n\r\n", Some(18))]
    #[case::bare_lf(b"GET / HTTP/1.0\n\n", Some(16))]
    #[case::with_fields(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody", Some(27))]
    #[case::incomplete(b"GET / HTTP/1.1\r\nHost: x\r\n", None)]
    #[case::leading_empty_lines(b"\r\n\r\nGET / HTTP/1.0\r\n\r\n", Some(22))]
    #[case::only_empty_lines(b"\r\n\r\n", None)]
    #[case::nothing(b"", None)]
    fn heads_end_at_the_empty_line(#[case] buf: &[u8], #[case] want: Option<usize>) {
        assert_eq!(head_end(buf), want);
    }

    #[rstest]
    #[case::get_1_0("GET / HTTP/1.0\r\n\r\n", Method::Get, "/")]
    #[case::head_any_path(
        "HEAD /a/b?c=d HTTP/1.1\r\nHost: lab\r\n\r\n",
        Method::Head,
        "/a/b?c=d"
    )]
    #[case::keep_alive_asked(
        "GET /x HTTP/1.1\r\nHost: lab\r\nConnection: keep-alive\r\n\r\n",
        Method::Get,
        "/x"
    )]
    #[case::absolute_form(
        "GET http://10.78.0.2/ HTTP/1.1\r\n\r\n",
        Method::Get,
        "http://10.78.0.2/"
    )]
    #[case::bare_lf("GET / HTTP/1.0\n\n", Method::Get, "/")]
    #[case::leading_crlf("\r\nGET / HTTP/1.0\r\n\r\n", Method::Get, "/")]
    #[case::value_with_tab_and_utf8("GET / HTTP/1.1\r\nX-A: a\tb é\r\n\r\n", Method::Get, "/")]
    fn good_requests_parse(#[case] head: &str, #[case] method: Method, #[case] target: &str) {
        let r = parse(head.as_bytes()).unwrap();
        assert_eq!((r.method, r.target.as_str()), (method, target));
        assert!(r.line.ends_with("HTTP/1.0") || r.line.ends_with("HTTP/1.1"));
    }

    #[rstest]
    #[case::empty(b"\r\n", 400)]
    #[case::two_parts(b"GET /\r\n\r\n", 400)]
    #[case::four_parts(b"GET / HTTP/1.0 x\r\n\r\n", 400)]
    #[case::double_space(b"GET  / HTTP/1.0\r\n\r\n", 400)]
    #[case::not_http(b"GET / FTP/1.0\r\n\r\n", 400)]
    #[case::bad_version(b"GET / HTTP/one\r\n\r\n", 400)]
    #[case::http2(b"GET / HTTP/2.0\r\n\r\n", 505)]
    #[case::http0_9(b"GET / HTTP/0.9\r\n\r\n", 505)]
    #[case::post(b"POST / HTTP/1.1\r\n\r\n", 405)]
    #[case::lowercase_method(b"get / HTTP/1.0\r\n\r\n", 405)]
    #[case::bad_method(b"G(T / HTTP/1.0\r\n\r\n", 400)]
    #[case::relative_target(b"GET index.html HTTP/1.0\r\n\r\n", 400)]
    #[case::asterisk(b"GET * HTTP/1.1\r\n\r\n", 400)]
    #[case::control_in_line(b"GET /\x01 HTTP/1.0\r\n\r\n", 400)]
    #[case::non_ascii_line(b"GET /\xc3\xa9 HTTP/1.0\r\n\r\n", 400)]
    #[case::tls_hello(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n", 400)]
    #[case::field_without_colon(b"GET / HTTP/1.1\r\nHost lab\r\n\r\n", 400)]
    #[case::space_before_colon(b"GET / HTTP/1.1\r\nHost : lab\r\n\r\n", 400)]
    #[case::folded_field(b"GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", 400)]
    #[case::control_in_value(b"GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", 400)]
    fn bad_requests_are_refused(#[case] head: &[u8], #[case] status: u16) {
        let err = parse(head).unwrap_err();
        assert_eq!(err.status, status, "{err:?}");
        assert!(!err.why.is_empty());
    }

    fn answer() -> Answer<'static> {
        Answer {
            lab: "lab",
            local: "10.78.0.2:80".parse().unwrap(),
            remote: "10.78.0.1:40000".parse().unwrap(),
        }
    }

    fn split(resp: &[u8]) -> (String, String) {
        let text = String::from_utf8(resp.to_vec()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        (head.to_string(), body.to_string())
    }

    fn content_length(head: &str) -> usize {
        head.lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap()
    }

    #[test]
    fn a_get_is_answered_with_who_answered_and_the_request_line() {
        let req = parse(b"GET /hello HTTP/1.0\r\n\r\n");
        let (head, body) = split(&response(&req, &answer()));
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("\r\nContent-Type: text/plain"), "{head}");
        assert!(head.contains("\r\nConnection: close"), "{head}");
        assert_eq!(content_length(&head), body.len());
        assert!(body.contains("nettool lab lab: 10.78.0.2:80 answered 10.78.0.1:40000"));
        assert!(body.contains("request: GET /hello HTTP/1.0\n"), "{body}");
    }

    #[test]
    fn head_gets_the_headers_of_get_and_no_body() {
        let get = response(&parse(b"GET / HTTP/1.1\r\n\r\n"), &answer());
        let head = response(&parse(b"HEAD / HTTP/1.1\r\n\r\n"), &answer());
        let (get_head, get_body) = split(&get);
        let (head_head, head_body) = split(&head);
        assert_eq!(head_body, "");
        // The bodies differ only in the method word of the request line.
        assert_eq!(content_length(&head_head), get_body.len() + 1);
        assert_eq!(content_length(&get_head), get_body.len());
    }

    #[rstest]
    #[case(400)]
    #[case(405)]
    #[case(408)]
    #[case(431)]
    #[case(505)]
    fn refusals_say_why_and_close(#[case] status: u16) {
        let rej = Err(Rejection::new(status, "because"));
        let (head, body) = split(&response(&rej, &answer()));
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status} {}\r\n", reason(status))),
            "{head}"
        );
        assert_ne!(reason(status), "Error");
        assert!(head.contains("\r\nConnection: close"));
        assert_eq!(head.contains("\r\nAllow: GET, HEAD"), status == 405);
        assert_eq!(content_length(&head), body.len());
        assert!(body.contains("because"), "{body}");
    }
}
