//! The page a planner reads, through the real binary on the hand-made fixtures (not
//! measurements): report.md and report.html open with the verdict card before any table, the
//! footer names the date, version and commit, numeric columns are right-aligned, and
//! report.html opened in headless Chromium renders the verdict before the first table, runs
//! its sort script (a click on a numeric header sorts the column by value), fetches nothing
//! from the network (every request would have to go through a proxy this test listens on) and
//! gives a screenshot (written under the target's tmp dir, path printed). Without Chromium the
//! browser test says it skipped; BENCH_REQUIRE_CHROMIUM=1 (CI) makes that a failure.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bench"));
    c.env_remove("RUST_BACKTRACE")
        .env("SOURCE_DATE_EPOCH", "1795693486")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn full_report(out: &Path) -> Output {
    let o = bench()
        .args([
            "report",
            "tests/fixtures/cuda-p5",
            "tests/fixtures/neuron-trn2",
            "tests/fixtures/neuron-sim",
            "tests/fixtures/cpu-unpriced",
            "--out",
            out.to_str().unwrap(),
            "--price",
            "trn2.48xlarge=30",
        ])
        .output()
        .expect("bench runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn markdown_opens_with_the_verdict_card_and_ends_with_provenance() {
    let tmp = tempfile::tempdir().unwrap();
    full_report(tmp.path());
    let md = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    assert!(
        md.starts_with("# bench report: trn2.48xlarge (Trainium2) vs p5.48xlarge (H100 SXM)\n"),
        "{md}"
    );
    let card = md
        .find("> **INCONCLUSIVE** · trn2.48xlarge (Trainium2) vs p5.48xlarge (H100 SXM)")
        .expect("card");
    assert!(
        card < md.find("\n|").unwrap(),
        "card before the first table"
    );
    // The plain sentence. Per workload (fixture ratios): matmul geomean(1.293, 1.291, 1.203)
    // = 1.2616, attention 1.311, train-mlp 1.312; overall (1.2616 · 1.311 · 1.312)^(1/3)
    // = 1.2947 -> 29% more; break-even 30 · 1.2947 / 1.3 = $29.88/h, 0.4% off.
    assert!(
        md.contains("trn2.48xlarge does 29% more work per dollar than p5.48xlarge at $30.00/h"),
        "{md}"
    );
    assert!(md.contains("the 30% claim holds at ≤ $29.8"), "{md}");
    assert!(md.contains("/h (0.4% off)"), "{md}");
    assert!(
        md.contains("Coverage: 3 of 3 workloads paired (5 paired points)"),
        "{md}"
    );
    assert!(
        md.contains("range from 1.262 (matmul) to 1.312 (train-mlp)"),
        "{md}"
    );
    assert!(md.contains("timing noise only"), "{md}");
    assert!(md.contains("per-workload ratios range from"), "{md}");
    // One SI prefix per column, numeric columns right-aligned.
    assert!(
        md.contains("| baseline (PFLOP/$) | challenger (PFLOP/$) |"),
        "{md}"
    );
    assert!(md.contains("|---|---:|---:|"), "{md}");
    assert!(md.contains("[summary.csv](summary.csv)"), "{md}");
    assert!(
        md.contains("[perf_per_usd.png](charts/perf_per_usd.png)"),
        "{md}"
    );
    let footer = format!(
        "Generated 2026-11-26T11:44:46Z by bench {} (git commit ",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        md.trim_end().lines().last().unwrap().starts_with(&footer),
        "{md}"
    );
}

#[test]
fn the_card_sums_up_the_price_scenarios_and_the_page_orders_its_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let o = bench()
        .args([
            "report",
            "tests/fixtures/verdict/p5-bench",
            "tests/fixtures/verdict/p5-torch",
            "tests/fixtures/verdict/trn2",
            "--price",
            "trn2.48xlarge=35.76",
            "--job",
            "matmul=1e18",
            "--out",
            tmp.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let md = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    // Headline 4.353 at p5 on-demand $55.04 vs trn2 $35.76; the best scenario is trn2 spot
    // ($23.06): 4.353 · 35.76 / 23.06 = 6.751; the worst p5 capacity block ($39.33):
    // 4.353 · 39.33 / 55.04 = 3.111.
    assert!(
        md.contains("Over the 4 price scenarios (table below): 4 SUPPORTED; best 6.751 (trn2.48xlarge spot at $23.06/h vs p5.48xlarge on-demand at $55.04/h), worst 3.111"),
        "{md}"
    );
    let at = |s: &str| md.find(s).unwrap_or_else(|| panic!("{s} in {md}"));
    let order = [
        at("> **SUPPORTED**"),
        at("## Price scenarios"),
        at("## Job costs"),
        at("## Charts"),
        at("## Details"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
}

/// The text of every `<text>` element of an SVG, trimmed.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

#[test]
fn charts_share_run_colours_mark_break_even_and_empty_slots() {
    let tmp = tempfile::tempdir().unwrap();
    full_report(tmp.path());
    let svg = |stem: &str| {
        std::fs::read_to_string(tmp.path().join(format!("charts/{stem}.svg"))).unwrap()
    };
    let has = |svg: &str, text: &str| svg_texts(svg).iter().any(|t| t.starts_with(text));
    // cuda-p5 is the first real run (#0072B2), neuron-trn2 the second (#E69F00), everywhere.
    let (ppu, sens, size, tput) = (
        svg("perf_per_usd"),
        svg("sensitivity"),
        svg("ratio_vs_size"),
        svg("throughput_vs_size"),
    );
    assert!(ppu.contains("#0072B2") && ppu.contains("#E69F00"));
    assert!(sens.contains("#E69F00") && size.contains("#E69F00"));
    assert!(tput.contains("#0072B2") && tput.contains("#E69F00"));
    assert!(has(&ppu, "overall"), "an overall group");
    // Break-even at 30 · 1.2947 / 1.3 and 55.04 · 1.3 / 1.2947, both on a $/h axis.
    assert!(
        has(&sens, "break-even $29.8"),
        "challenger break-even marked"
    );
    assert!(has(&sens, "break-even $55.2"), "baseline break-even marked");
    assert!(has(&sens, "$20") && has(&sens, "$40"), "$/h ticks");
    assert!(has(&size, "matmul"), "matmul has several sizes");

    // A p5 run whose attention failed and train-mlp failed its check: the empty slots say so.
    let o = bench()
        .args([
            "report",
            "tests/fixtures/verdict/p5-failed",
            "tests/fixtures/verdict/trn2",
            "--allow-partial",
            "--price",
            "trn2.48xlarge=32",
            "--out",
            tmp.path().join("failed").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let ppu = std::fs::read_to_string(tmp.path().join("failed/charts/perf_per_usd.svg")).unwrap();
    let texts = svg_texts(&ppu);
    for label in ["failed", "failed check", "not paired"] {
        assert!(texts.iter().any(|t| t == label), "{label}: {texts:?}");
    }
}

/// The Chromium binary, or None (with the skip printed) when it is absent and not required.
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        assert!(
            std::env::var_os("BENCH_REQUIRE_CHROMIUM").is_none(),
            "BENCH_REQUIRE_CHROMIUM is set but no chromium is on PATH"
        );
        eprintln!("skipped: no chromium on PATH (Debian: apt-get install chromium)");
    }
    found
}

/// Runs headless Chromium with the flags, every request sent through `proxy`;
/// returns stdout. Killed after 90 s.
fn headless(chromium: &Path, profile: &Path, proxy: u16, extra: &[&str], url: &str) -> String {
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--proxy-server=http://127.0.0.1:{proxy}"))
        .arg("--proxy-bypass-list=<-loopback>")
        // The browser's own clock query (clients2.google.com/time) is not the page's.
        .arg("--disable-features=NetworkTimeServiceQuerying")
        .args(extra)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    // Read while it runs: the DOM is larger than a pipe's buffer.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).map(|_| out)
    });
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap().expect("chromium's output is UTF-8")
}

/// Every address the page could load from: src/href/url()/@import values that are remote.
fn remote_references(dom: &str) -> Vec<String> {
    let mut found = Vec::new();
    for key in ["src=", "href=", "url(", "@import", "srcset="] {
        let mut rest = dom;
        while let Some(i) = rest.find(key) {
            let value = rest[i + key.len()..]
                .trim_start_matches(['"', '\'', ' '])
                .to_ascii_lowercase();
            if value.starts_with("http:") || value.starts_with("https:") || value.starts_with("//")
            {
                found.push(rest[i..(i + 60).min(rest.len())].to_string());
            }
            rest = &rest[i + key.len()..];
        }
    }
    found
}

/// Records the first line of every request sent to the proxy until stopped.
fn record_requests(
    proxy: TcpListener,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            match proxy.accept() {
                Ok((mut s, _)) => {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut req = [0u8; 300];
                    let n = s.read(&mut req).unwrap_or(0);
                    let text = String::from_utf8_lossy(&req[..n]).to_string();
                    seen.push(text.lines().next().unwrap_or("").to_string());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        seen
    })
}

/// Hosts Chromium itself contacts whatever page it shows, even with the flags
/// (component updater, sign-in, clock): seen on about:blank too, so not the page's requests.
const BROWSER_OWN: [&str; 3] = [
    "update.googleapis.com",
    "accounts.google.com",
    "clients2.google.com",
];

/// The host of a proxy request line: `CONNECT host:443 ..` or `GET http://host/path ..`.
fn request_host(line: &str) -> &str {
    let target = line.split_whitespace().nth(1).unwrap_or("");
    let target = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
        .unwrap_or(target);
    target.split(['/', ':']).next().unwrap_or("")
}

fn proxy_thread_stop(stop: &std::sync::atomic::AtomicBool) {
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
}

#[test]
fn proxy_request_lines_name_their_host() {
    assert_eq!(
        request_host("CONNECT update.googleapis.com:443 HTTP/1.1"),
        "update.googleapis.com"
    );
    assert_eq!(
        request_host("GET http://cdn.example/x.js HTTP/1.1"),
        "cdn.example"
    );
    assert!(!BROWSER_OWN.contains(&request_host("GET http://cdn.example/x.js HTTP/1.1")));
}

#[test]
fn remote_reference_scan_catches_urls() {
    assert!(remote_references("<a href=\"summary.csv\">x</a><style>a{}</style>").is_empty());
    assert_eq!(remote_references("<img src=\"https://x/y.png\">").len(), 1);
    assert_eq!(
        remote_references("<style>b{background:url(//cdn/x)}</style>").len(),
        1
    );
}

#[test]
fn chromium_renders_the_verdict_first_sorts_and_fetches_nothing() {
    let Some(chromium) = chromium() else { return };
    let tmp = tempfile::tempdir().unwrap();
    full_report(tmp.path());
    let html_path = tmp.path().join("report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(
        remote_references(&html).is_empty(),
        "{:?}",
        remote_references(&html)
    );

    // A click on the first numeric header of the first table sorts by value: this copy of the
    // page clicks it and writes the column out after the page's own script has run.
    let probe = "<script>var t=document.querySelector('table.js-sortable');\
var th=t.querySelector('th.num');var i=Array.prototype.indexOf.call(th.parentNode.children,th);\
th.click();var p=document.createElement('pre');p.id='probe';\
p.textContent=Array.prototype.map.call(t.tBodies[0].rows,function(r){return r.cells[i].textContent}).join('|');\
document.body.appendChild(p);</script></body>";
    let probed = tmp.path().join("probed.html");
    std::fs::write(&probed, html.replace("</body>", probe)).unwrap();

    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let port = proxy.local_addr().unwrap().port();
    let proxy_stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let recorder = record_requests(proxy, proxy_stop.clone());
    let profile = tempfile::tempdir().unwrap();
    let url = |p: &Path| format!("file://{}", p.display());

    let dom = headless(
        &chromium,
        profile.path(),
        port,
        &["--dump-dom"],
        &url(&html_path),
    );
    let verdict = dom
        .find("id=\"verdict\"")
        .expect("the verdict card is in the DOM");
    let table = dom.find("<table").expect("a table is in the DOM");
    assert!(verdict < table, "verdict card before the first table");
    assert!(
        dom[verdict..table].contains("INCONCLUSIVE"),
        "badge in the card"
    );
    assert!(dom.contains("js-sortable"), "the sort script ran");
    assert!(
        remote_references(&dom).is_empty(),
        "{:?}",
        remote_references(&dom)
    );

    let dom = headless(
        &chromium,
        profile.path(),
        port,
        &["--dump-dom"],
        &url(&probed),
    );
    let col = dom
        .split("<pre id=\"probe\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .expect("the probe wrote the sorted column");
    let values: Vec<f64> = col
        .split('|')
        .map(|v| v.replace([',', '$', '%'], "").parse().unwrap())
        .collect();
    assert!(values.len() > 1, "{col}");
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "sorted ascending: {col}"
    );

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report_page");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("report.png");
    let _ = std::fs::remove_file(&shot);
    headless(
        &chromium,
        profile.path(),
        port,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000",
            "--hide-scrollbars",
        ],
        &url(&html_path),
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 20_000, "screenshot suspiciously small");
    eprintln!("screenshot: {}", shot.display());

    proxy_thread_stop(&proxy_stop);
    let requests: Vec<String> = recorder
        .join()
        .unwrap()
        .into_iter()
        .filter(|r| !BROWSER_OWN.contains(&request_host(r)))
        .collect();
    assert!(
        requests.is_empty(),
        "the page made network requests: {requests:?}"
    );
}
