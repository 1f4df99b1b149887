//! `osfp db check`: exit codes and located errors, through the real binary.

use std::process::Command;

fn check(path: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_osfp"))
        .args(["db", "check"])
        .arg(path)
        .output()
        .expect("run osfp");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn good_and_bad_databases() {
    let dir = std::env::temp_dir().join(format!("osfp-dbcheck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.fp");
    std::fs::write(
        &good,
        "classes = unix\n[tcp:request]\nlabel = s:unix:Linux:x\nsig = *:64:0:*:mss*10,7:mss,sok,ts,nop,ws:df,id+:0\n[http:request]\nsig = whatever\n",
    )
    .unwrap();
    let (code, out) = check(&good);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 errors; 1 labels (0 tools), 1 request + 0 response signatures"));
    assert!(out.contains("[http:request] (1 sigs)"));

    let bad = dir.join("bad.fp");
    std::fs::write(
        &bad,
        "classes = unix\n[tcp:request]\nlabel = s:unix:Linux:x\nsig = *:64:0:*:mss*10,7:mss:df,nope:0\nsig = *:64:0:99999:*,0:mss::0\n",
    )
    .unwrap();
    let (code, out) = check(&bad);
    assert_eq!(code, 1, "{out}");
    let name = bad.display();
    assert!(
        out.contains(&format!("{name}:4:32: unknown quirk: nope")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{name}:5:14: MSS out of range (max 65535): 99999")),
        "{out}"
    );
    assert!(out.contains("2 errors"));

    // p0f's own database checks clean; without p0f installed this part cannot run.
    let p0f = std::path::Path::new("/etc/p0f/p0f.fp");
    if osfp_tests::require(
        p0f.exists().then_some(p0f),
        "db_check_cli: /etc/p0f/p0f.fp (apt install p0f)",
    )
    .is_some()
    {
        let (code, out) = check(p0f);
        assert_eq!(code, 0, "{out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
