//! Consistency check of the golden fixtures (tests/fixtures/*/index.tsv):
//! every listed frame exists and its header agrees with the index. This
//! guards the fixture set itself; the codec tests decode the frames.

use std::fs;
use std::path::Path;

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[test]
fn fixture_indexes_match_frames() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut scenarios = 0;
    let mut exchanges = 0;
    for entry in fs::read_dir(&root).expect("tests/fixtures exists") {
        let dir = entry.expect("dir entry").path();
        if !dir.is_dir() {
            continue;
        }
        scenarios += 1;
        let index = fs::read_to_string(dir.join("index.tsv")).expect("index.tsv");
        let mut lines = index.lines();
        assert_eq!(
            lines.next(),
            Some("seq\tapi_key\tapi_name\tapi_version\tcorrelation_id\tclient_id\trequest_file\tresponse_file")
        );
        for line in lines {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 8, "{}: {line}", dir.display());
            let api_key: i16 = f[1].parse().expect("api_key");
            let version: i16 = f[3].parse().expect("api_version");
            let corr: i32 = f[4].parse().expect("correlation_id");
            let req = fs::read(dir.join(f[6])).expect("request file");
            assert!(req.len() >= 10, "{}", f[6]);
            assert_eq!(be_i16(&req, 0), api_key, "{}", f[6]);
            assert_eq!(be_i16(&req, 2), version, "{}", f[6]);
            assert_eq!(be_i32(&req, 4), corr, "{}", f[6]);
            assert!(
                f[6].contains(&format!("-{}-v{version}-req.bin", f[2])),
                "{}",
                f[6]
            );
            if f[7] != "-" {
                let resp = fs::read(dir.join(f[7])).expect("response file");
                assert!(resp.len() >= 4, "{}", f[7]);
                assert_eq!(be_i32(&resp, 0), corr, "{}", f[7]);
            }
            exchanges += 1;
        }
        assert!(dir.join("README.md").is_file(), "{}", dir.display());
    }
    assert!(scenarios >= 10, "only {scenarios} fixture scenarios");
    assert!(exchanges >= 100, "only {exchanges} exchanges");
}
