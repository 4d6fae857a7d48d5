//! The memory budget end to end: the real `techpack serve` with a small budget, uploads over
//! raw HTTP/1.1 so the test decides when each body arrives.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::{Options, Server};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SAMPLE: &str = "workflows/samples/sample-product.png";
const PADDED_BYTES: usize = 22 * 1024 * 1024;

/// The shared server on `data` with the repo's workflows, and with the budget's own defaults
/// unless `extra` sets them.
fn start(data: &Path, extra: &[&str]) -> Server {
    Server::start_with(
        data,
        Path::new("workflows"),
        Options {
            args: extra,
            env_remove: &["TECHPACK_MEMORY_BUDGET_MIB", "TECHPACK_MEMORY_WAIT"],
            ..Options::default()
        },
    )
}

fn crc32(kind: &[u8], data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in kind.iter().chain(data) {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// The sample photo with a `tEXt` chunk after its header, `total` bytes in all: a valid PNG
/// that is a small image and a large file.
fn padded_png(total: usize) -> Vec<u8> {
    let png = std::fs::read(SAMPLE).unwrap();
    let text_len = total - png.len() - 12;
    let mut text = b"Comment\0".to_vec();
    text.resize(text_len, b'x');
    let ihdr_end = 8 + 12 + 13;
    let mut out = png[..ihdr_end].to_vec();
    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
    out.extend_from_slice(b"tEXt");
    out.extend_from_slice(&text);
    out.extend_from_slice(&crc32(b"tEXt", &text).to_be_bytes());
    out.extend_from_slice(&png[ihdr_end..]);
    assert_eq!(out.len(), total);
    out
}

/// A multipart body with the `image` file and the `view` text.
fn form_body(image: &[u8]) -> Vec<u8> {
    let mut body = b"--xyz\r\nContent-Disposition: form-data; name=\"view\"\r\n\r\nfront\r\n\
        --xyz\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.png\"\r\n\
        Content-Type: image/png\r\n\r\n"
        .to_vec();
    body.extend_from_slice(image);
    body.extend_from_slice(b"\r\n--xyz--\r\n");
    body
}

/// An upload on its own connection, the body sent when the test says.
struct RawUpload {
    stream: TcpStream,
}

impl RawUpload {
    /// Sends the headers of an upload declaring `length` body bytes, asking the server to
    /// say when it is ready for the body (`Expect: 100-continue`).
    fn start(server: &Server, token: &str, product: &str, length: usize) -> RawUpload {
        let mut stream = TcpStream::connect(server.address()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "POST /api/products/{product}/images HTTP/1.1\r\nHost: {}\r\n\
             Authorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary=xyz\r\n\
             Content-Length: {length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            server.address()
        )
        .unwrap();
        RawUpload { stream }
    }

    /// The head of the server's next answer (status line and headers).
    fn read_head(&mut self) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(self.stream.read(&mut byte).unwrap(), 1, "connection closed");
            head.push(byte[0]);
        }
        String::from_utf8(head).unwrap()
    }

    /// The whole answer after the head: its status, headers and JSON body.
    fn finish(mut self) -> (u16, String, Value) {
        let head = loop {
            let head = self.read_head();
            if !head.starts_with("HTTP/1.1 100") {
                break head;
            }
        };
        let mut body = String::new();
        self.stream.read_to_string(&mut body).unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (
            status,
            head,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[test]
fn uploads_queue_for_the_budget_and_one_that_would_wait_too_long_is_told_to_retry() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        &dir.path().join("data"),
        &["--memory-budget-mib", "30", "--memory-wait", "1s"],
    );
    let (ada, bob) = (server.user("ada", 100), server.user("bob", 100));
    let (ada_product, bob_product) = (server.product(&ada), server.product(&bob));
    let body = form_body(&padded_png(PADDED_BYTES));

    // Ada's upload declares 22 MiB. The server asks for the body only once the budget
    // holds it; half of it arrives, and the upload keeps holding it.
    let mut first = RawUpload::start(&server, &ada, &ada_product, body.len());
    let head = first.read_head();
    assert!(head.starts_with("HTTP/1.1 100"), "{head}");
    first.stream.write_all(&body[..body.len() / 2]).unwrap();

    // Bob's 22 MiB does not fit beside it: after --memory-wait, 503 busy with Retry-After,
    // before any of its body is read.
    let second = RawUpload::start(&server, &bob, &bob_product, body.len());
    let (status, head, error) = second.finish();
    assert_eq!(status, 503, "{head}{error}");
    assert_eq!(header(&head, "retry-after"), Some("1"), "{head}");
    assert_eq!(error["error"]["code"], "busy", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("busy"), "{message}");

    // The rest of Ada's body: her upload is stored.
    first.stream.write_all(&body[body.len() / 2..]).unwrap();
    let (status, head, revision) = first.finish();
    assert_eq!(status, 201, "{head}{revision}");

    // The budget was given back: Bob's upload now goes through.
    let (status, revision) = server.upload(&bob, &bob_product, padded_png(PADDED_BYTES), "front");
    assert_eq!(status, StatusCode::CREATED, "{revision}");
}

#[test]
fn a_png_padded_with_a_text_chunk_is_stored_without_the_padding() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data, &[]);
    let ada = server.user("ada", 100);
    let product = server.product(&ada);

    let padded = padded_png(PADDED_BYTES);
    let (status, revision) = server.upload(&ada, &product, padded.clone(), "front");
    assert_eq!(status, StatusCode::CREATED, "{revision}");
    assert_eq!(
        (revision["width"].as_u64(), revision["height"].as_u64()),
        (Some(1024), Some(1024))
    );

    // The stored blob is the photo without its text chunk, byte for byte.
    let hash = revision["imageHash"].as_str().unwrap();
    let stored = std::fs::read(data.join("blobs").join(&hash[..2]).join(hash)).unwrap();
    let sample = std::fs::read(SAMPLE).unwrap();
    assert_eq!(stored.len(), sample.len(), "stored {} bytes", stored.len());
    assert!(stored == sample, "the stored blob is the unpadded photo");
    let limits = techpack_steps::local::DecodeLimits::default();
    assert_eq!(
        techpack_steps::local::decode(&stored, &limits).unwrap(),
        techpack_steps::local::decode(&padded, &limits).unwrap(),
        "the same pixels"
    );

    // And it is analyzed like the photo it is.
    let (status, analysis) = server.send(
        "POST",
        "/api/tech-pack-v2/base-views/analyze",
        Some(&ada),
        Some(json!({ "productId": product })),
    );
    assert_eq!(status, StatusCode::OK, "{analysis}");
}

#[test]
fn metadata_beyond_what_a_photo_needs_is_refused_with_a_clear_400() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"), &[]);
    let ada = server.user("ada", 100);
    let product = server.product(&ada);
    let png = std::fs::read(SAMPLE).unwrap();
    // A 2 MiB colour profile chunk: kept chunks may carry at most 1 MiB.
    let profile = vec![0u8; 2 * 1024 * 1024];
    let mut big = png[..33].to_vec();
    big.extend_from_slice(&(profile.len() as u32).to_be_bytes());
    big.extend_from_slice(b"iCCP");
    big.extend_from_slice(&profile);
    big.extend_from_slice(&crc32(b"iCCP", &profile).to_be_bytes());
    big.extend_from_slice(&png[33..]);
    let (status, error) = server.upload(&ada, &product, big, "front");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("metadata"), "{message}");
}
