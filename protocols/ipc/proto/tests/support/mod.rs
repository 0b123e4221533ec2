//! Byte captures of real electron-common-ipc 16.0.4 traffic, from
//! `shared/reference/ipc-bus-wire.md` §3 (Node broker on 127.0.0.1; A = "peerA", the
//! responder, on conn1; B = "peerB", the requester, on conn2), as hex with whitespace.
//! [`js_writer`] holds packets written by the upstream JS library itself.

#![allow(
    dead_code,
    reason = "shared by several test crates, each using a subset"
)]

pub mod js_writer;

/// Decodes whitespace-separated hex.
pub fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).expect("ASCII");
            u8::from_str_radix(pair, 16).expect("hex digit")
        })
        .collect()
}

/// The peer id of A.
pub const PEER_A: &str = "Xkyh#)qsci";
/// The peer id of B.
pub const PEER_B: &str = "zP5CFA<5Nw";

/// conn1 C->B, §3.1: `HAN` of peerA. 83 bytes.
pub const HAN: &str = "\
    5b 41 4c 00 00 00 01 00 00 00 5b 6f 41 00 00 00 7b 22 70 65 65 72 22 3a 7b 22 69 64 22 3a 22 58 \
    6b 79 68 23 29 71 73 63 69 22 2c 22 74 79 70 65 22 3a 31 2c 22 6e 61 6d 65 22 3a 22 70 65 65 72 \
    41 22 7d 2c 22 6b 69 6e 64 22 3a 22 48 41 4e 22 7d 5d 5d";

/// conn1 C->B, §3.2: `LICA` "news" for peerA. 104 bytes.
pub const LICA: &str = "\
    5b 41 61 00 00 00 01 00 00 00 5b 6f 56 00 00 00 7b 22 6b 69 6e 64 22 3a 22 4c 49 43 41 22 2c 22 \
    70 65 65 72 73 22 3a 5b 7b 22 69 64 22 3a 22 58 6b 79 68 23 29 71 73 63 69 22 2c 22 74 79 70 65 \
    22 3a 31 2c 22 6e 61 6d 65 22 3a 22 70 65 65 72 41 22 7d 5d 2c 22 63 68 61 6e 6e 65 6c 22 3a 22 \
    6e 65 77 73 22 7d 5d 5d";

/// conn2 C->B: `HAN` of peerB. 83 bytes.
pub const HAN_B: &str = "\
    5b 41 4c 00 00 00 01 00 00 00 5b 6f 41 00 00 00 7b 22 70 65 65 72 22 3a 7b 22 69 64 22 3a 22 7a \
    50 35 43 46 41 3c 35 4e 77 22 2c 22 74 79 70 65 22 3a 31 2c 22 6e 61 6d 65 22 3a 22 70 65 65 72 \
    42 22 7d 2c 22 6b 69 6e 64 22 3a 22 48 41 4e 22 7d 5d 5d";

/// conn2 C->B and conn1 B->C (same bytes), §3.3: `send("news", "hello", 42)`. 147 bytes.
pub const MES: &str = "\
    5b 41 8c 00 00 00 02 00 00 00 5b 6f 63 00 00 00 7b 22 6b 69 6e 64 22 3a 22 4d 45 53 22 2c 22 63 \
    68 61 6e 6e 65 6c 22 3a 22 6e 65 77 73 22 2c 22 70 65 65 72 22 3a 7b 22 69 64 22 3a 22 7a 50 35 \
    43 46 41 3c 35 4e 77 22 2c 22 74 79 70 65 22 3a 31 2c 22 6e 61 6d 65 22 3a 22 70 65 65 72 42 22 \
    7d 2c 22 69 73 52 61 77 44 61 74 61 22 3a 74 72 75 65 7d 5d 5b 41 17 00 00 00 02 00 00 00 5b 73 \
    05 00 00 00 68 65 6c 6c 6f 5d 5b 2b 2a 00 00 00 5d 5d 5d";

/// conn2 C->B, §3.4: `request("compute", t, 2, 3)`. 195 bytes.
pub const REQUEST: &str = "\
    5b 41 bc 00 00 00 02 00 00 00 5b 6f 98 00 00 00 7b 22 6b 69 6e 64 22 3a 22 4d 45 53 22 2c 22 63 \
    68 61 6e 6e 65 6c 22 3a 22 63 6f 6d 70 75 74 65 22 2c 22 70 65 65 72 22 3a 7b 22 69 64 22 3a 22 \
    7a 50 35 43 46 41 3c 35 4e 77 22 2c 22 74 79 70 65 22 3a 31 2c 22 6e 61 6d 65 22 3a 22 70 65 65 \
    72 42 22 7d 2c 22 72 65 71 75 65 73 74 22 3a 7b 22 63 68 61 6e 6e 65 6c 22 3a 22 63 6f 6d 70 75 \
    74 65 22 2c 22 69 64 22 3a 22 36 41 77 36 35 4e 33 68 50 61 22 7d 2c 22 69 73 52 61 77 44 61 74 \
    61 22 3a 74 72 75 65 7d 5d 5b 41 12 00 00 00 02 00 00 00 5b 2b 02 00 00 00 5d 5b 2b 03 00 00 00 \
    5d 5d 5d";

/// conn1 C->B, §3.5: `event.request.resolve({sum: 5})`. 268 bytes.
pub const RESPONSE: &str = "\
    5b 41 05 01 00 00 02 00 00 00 5b 6f df 00 00 00 7b 22 6b 69 6e 64 22 3a 22 52 51 52 22 2c 22 63 \
    68 61 6e 6e 65 6c 22 3a 22 36 41 77 36 35 4e 33 68 50 61 22 2c 22 70 65 65 72 22 3a 7b 22 69 64 \
    22 3a 22 58 6b 79 68 23 29 71 73 63 69 22 2c 22 74 79 70 65 22 3a 31 2c 22 6e 61 6d 65 22 3a 22 \
    70 65 65 72 41 22 7d 2c 22 74 61 72 67 65 74 22 3a 7b 22 69 64 22 3a 22 7a 50 35 43 46 41 3c 35 \
    4e 77 22 2c 22 74 79 70 65 22 3a 31 2c 22 6e 61 6d 65 22 3a 22 70 65 65 72 42 22 7d 2c 22 72 65 \
    71 75 65 73 74 22 3a 7b 22 63 68 61 6e 6e 65 6c 22 3a 22 63 6f 6d 70 75 74 65 22 2c 22 69 64 22 \
    3a 22 36 41 77 36 35 4e 33 68 50 61 22 2c 22 72 65 73 6f 6c 76 65 22 3a 74 72 75 65 7d 2c 22 69 \
    73 52 61 77 44 61 74 61 22 3a 74 72 75 65 7d 5d 5b 41 14 00 00 00 01 00 00 00 5b 6f 09 00 00 00 \
    7b 22 73 75 6d 22 3a 35 7d 5d 5d 5d";

/// conn2 C->B, §3: `request("compute", t, -1, 3)` with id "Rgx>^eud74". 195 bytes.
pub const REQUEST_2: &str = "\
    5b 41 bc 00 00 00 02 00 00 00 5b 6f 98 00 00 00 7b 22 6b 69 6e 64 22 3a 22 4d 45 53 22 2c 22 63 \
    68 61 6e 6e 65 6c 22 3a 22 63 6f 6d 70 75 74 65 22 2c 22 70 65 65 72 22 3a 7b 22 69 64 22 3a 22 \
    7a 50 35 43 46 41 3c 35 4e 77 22 2c 22 74 79 70 65 22 3a 31 2c 22 6e 61 6d 65 22 3a 22 70 65 65 \
    72 42 22 7d 2c 22 72 65 71 75 65 73 74 22 3a 7b 22 63 68 61 6e 6e 65 6c 22 3a 22 63 6f 6d 70 75 \
    74 65 22 2c 22 69 64 22 3a 22 52 67 78 3e 5e 65 75 64 37 34 22 7d 2c 22 69 73 52 61 77 44 61 74 \
    61 22 3a 74 72 75 65 7d 5d 5b 41 12 00 00 00 02 00 00 00 5b 2d 01 00 00 00 5d 5b 2b 03 00 00 00 \
    5d 5d 5d";

/// conn1 C->B, §3.5 reject variant: `event.request.reject("negative!")`. 269 bytes.
pub const REJECT: &str = "\
    5b 41 06 01 00 00 02 00 00 00 5b 6f e0 00 00 00 7b 22 6b 69 6e 64 22 3a 22 52 51 52 22 2c 22 63 \
    68 61 6e 6e 65 6c 22 3a 22 52 67 78 3e 5e 65 75 64 37 34 22 2c 22 70 65 65 72 22 3a 7b 22 69 64 \
    22 3a 22 58 6b 79 68 23 29 71 73 63 69 22 2c 22 74 79 70 65 22 3a 31 2c 22 6e 61 6d 65 22 3a 22 \
    70 65 65 72 41 22 7d 2c 22 74 61 72 67 65 74 22 3a 7b 22 69 64 22 3a 22 7a 50 35 43 46 41 3c 35 \
    4e 77 22 2c 22 74 79 70 65 22 3a 31 2c 22 6e 61 6d 65 22 3a 22 70 65 65 72 42 22 7d 2c 22 72 65 \
    71 75 65 73 74 22 3a 7b 22 63 68 61 6e 6e 65 6c 22 3a 22 63 6f 6d 70 75 74 65 22 2c 22 69 64 22 \
    3a 22 52 67 78 3e 5e 65 75 64 37 34 22 2c 22 72 65 73 6f 6c 76 65 22 3a 66 61 6c 73 65 7d 2c 22 \
    69 73 52 61 77 44 61 74 61 22 3a 74 72 75 65 7d 5d 5b 41 14 00 00 00 01 00 00 00 5b 73 09 00 00 \
    00 6e 65 67 61 74 69 76 65 21 5d 5d 5d";

/// conn2 C->B, §3: `send("bye")` with no args. 127 bytes.
pub const BYE: &str = "\
    5b 41 78 00 00 00 02 00 00 00 5b 6f 62 00 00 00 7b 22 6b 69 6e 64 22 3a 22 4d 45 53 22 2c 22 63 \
    68 61 6e 6e 65 6c 22 3a 22 62 79 65 22 2c 22 70 65 65 72 22 3a 7b 22 69 64 22 3a 22 7a 50 35 43 \
    46 41 3c 35 4e 77 22 2c 22 74 79 70 65 22 3a 31 2c 22 6e 61 6d 65 22 3a 22 70 65 65 72 42 22 7d \
    2c 22 69 73 52 61 77 44 61 74 61 22 3a 74 72 75 65 7d 5d 5b 41 04 00 00 00 00 00 00 00 5d 5d";

/// conn1 C->B, §3.6: `LICR` "news" at close. 104 bytes.
pub const LICR: &str = "\
    5b 41 61 00 00 00 01 00 00 00 5b 6f 56 00 00 00 7b 22 6b 69 6e 64 22 3a 22 4c 49 43 52 22 2c 22 \
    70 65 65 72 73 22 3a 5b 7b 22 69 64 22 3a 22 58 6b 79 68 23 29 71 73 63 69 22 2c 22 74 79 70 65 \
    22 3a 31 2c 22 6e 61 6d 65 22 3a 22 70 65 65 72 41 22 7d 5d 2c 22 63 68 61 6e 6e 65 6c 22 3a 22 \
    6e 65 77 73 22 7d 5d 5d";

/// §3.6: `LIR {peers: [], channel: ""}` at close. 56 bytes.
pub const LIR: &str = "\
    5b 41 31 00 00 00 01 00 00 00 5b 6f 26 00 00 00 7b 22 6b 69 6e 64 22 3a 22 4c 49 52 22 2c 22 70 \
    65 65 72 73 22 3a 5b 5d 2c 22 63 68 61 6e 6e 65 6c 22 3a 22 22 7d 5d 5d";

/// §3.6: `SHT {peers: []}` at close. 43 bytes.
pub const SHT: &str = "\
    5b 41 24 00 00 00 01 00 00 00 5b 6f 19 00 00 00 7b 22 70 65 65 72 73 22 3a 5b 5d 2c 22 6b 69 6e \
    64 22 3a 22 53 48 54 22 7d 5d 5d";

/// §3.7: the args element of `send('types', ...)` with 20 values of every type, element by element as captured. 275 bytes.
pub const TYPES_ARGS: &str = "\
    5b 41 0c 01 00 00 14 00 00 00 5b 73 06 00 00 00 68 c3 a9 6c 6c 6f 5d 5b 2b 00 00 00 00 5d 5b 2b \
    07 00 00 00 5d 5b 2d 07 00 00 00 5d 5b 2b ff ff ff ff 5d 5b 64 00 00 00 00 00 00 f0 41 5d 5b 64 \
    00 00 00 00 00 00 f8 3f 5d 5b 64 00 00 00 00 00 00 d0 bf 5d 5b 64 00 00 00 00 00 00 f8 7f 5d 5b \
    54 5d 5b 46 5d 5b 4e 5d 5b 55 5d 5b 44 00 00 00 00 00 00 00 00 5d 5b 42 03 00 00 00 01 02 03 5d \
    5b 41 13 00 00 00 02 00 00 00 5b 2b 01 00 00 00 5d 5b 73 01 00 00 00 61 5d 5d 5b 6f 4d 00 00 00 \
    7b 22 6b 22 3a 22 76 22 2c 22 6e 22 3a 31 2c 22 64 22 3a 7b 22 74 79 70 65 22 3a 22 44 61 74 65 \
    22 2c 22 64 61 74 61 22 3a 30 7d 2c 22 62 22 3a 7b 22 74 79 70 65 22 3a 22 42 75 66 66 65 72 22 \
    2c 22 64 61 74 61 22 3a 5b 39 5d 7d 7d 5d 5b 43 03 00 00 00 01 04 05 5d 5b 43 03 00 00 00 00 00 \
    00 5d 5b 43 09 00 00 00 0c 00 00 00 00 00 00 f8 3f 5d 5d";

/// §3.7: the whole 389-byte `send('types', ...)` packet. The reference gives its args byte by byte but not its JSON header; the header here is the 16.x `MES` shape for client D (peer name `D`, which with a 10-character id gives exactly the documented 389 bytes) with a placeholder id. 389 bytes.
pub const TYPES: &str = "\
    5b 41 7e 01 00 00 02 00 00 00 5b 6f 60 00 00 00 7b 22 6b 69 6e 64 22 3a 22 4d 45 53 22 2c 22 63 \
    68 61 6e 6e 65 6c 22 3a 22 74 79 70 65 73 22 2c 22 70 65 65 72 22 3a 7b 22 69 64 22 3a 22 51 6d \
    37 23 78 28 4c 70 32 5a 22 2c 22 74 79 70 65 22 3a 31 2c 22 6e 61 6d 65 22 3a 22 44 22 7d 2c 22 \
    69 73 52 61 77 44 61 74 61 22 3a 74 72 75 65 7d 5d 5b 41 0c 01 00 00 14 00 00 00 5b 73 06 00 00 \
    00 68 c3 a9 6c 6c 6f 5d 5b 2b 00 00 00 00 5d 5b 2b 07 00 00 00 5d 5b 2d 07 00 00 00 5d 5b 2b ff \
    ff ff ff 5d 5b 64 00 00 00 00 00 00 f0 41 5d 5b 64 00 00 00 00 00 00 f8 3f 5d 5b 64 00 00 00 00 \
    00 00 d0 bf 5d 5b 64 00 00 00 00 00 00 f8 7f 5d 5b 54 5d 5b 46 5d 5b 4e 5d 5b 55 5d 5b 44 00 00 \
    00 00 00 00 00 00 5d 5b 42 03 00 00 00 01 02 03 5d 5b 41 13 00 00 00 02 00 00 00 5b 2b 01 00 00 \
    00 5d 5b 73 01 00 00 00 61 5d 5d 5b 6f 4d 00 00 00 7b 22 6b 22 3a 22 76 22 2c 22 6e 22 3a 31 2c \
    22 64 22 3a 7b 22 74 79 70 65 22 3a 22 44 61 74 65 22 2c 22 64 61 74 61 22 3a 30 7d 2c 22 62 22 \
    3a 7b 22 74 79 70 65 22 3a 22 42 75 66 66 65 72 22 2c 22 64 61 74 61 22 3a 5b 39 5d 7d 7d 5d 5b \
    43 03 00 00 00 01 04 05 5d 5b 43 03 00 00 00 00 00 00 5d 5b 43 09 00 00 00 0c 00 00 00 00 00 00 \
    f8 3f 5d 5d 5d";

/// Every capture of a whole packet, with its name, in capture order.
pub const PACKETS: &[(&str, &str)] = &[
    ("HAN", HAN),
    ("LICA", LICA),
    ("HAN_B", HAN_B),
    ("MES", MES),
    ("REQUEST", REQUEST),
    ("RESPONSE", RESPONSE),
    ("REQUEST_2", REQUEST_2),
    ("REJECT", REJECT),
    ("BYE", BYE),
    ("LICR", LICR),
    ("LIR", LIR),
    ("SHT", SHT),
    ("TYPES", TYPES),
];
