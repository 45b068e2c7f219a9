//! Crashes do not lose acknowledged exchanges: under concurrent load both gateways, as real
//! `psn gateway serve` processes, are killed with SIGKILL at random moments and restarted.
//! Afterwards every exchange the client saw succeed (status 200 and the whole body) has its record
//! on both gateways, and both logs verify (a torn tail is recovered on restart, not reported).

mod common;

use common::process::spawn_gateway;
use common::{client, Net, CONSUMER, PROVIDER, SERVICE};
use psn_audit::{find, verify, Role, VerifyOptions};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

const CLIENT: &str = "GB/LA/E10000016/revenues";
const KILL_ROUNDS: usize = 5;
const CONCURRENT_CALLERS: usize = 8;

/// A small deterministic generator; the seed is printed so a failing run can be repeated.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_exchanges_survive_sigkill_of_both_gateways() {
    let net = Net::prepare(Duration::from_secs(10)).await;
    for member in [CONSUMER, PROVIDER] {
        psn_gateway::sync_config(&net.members[member].dir, None)
            .await
            .expect("sync");
    }
    let mut provider = spawn_gateway(&net, PROVIDER);
    let mut consumer = spawn_gateway(&net, CONSUMER);

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    println!("seed {seed}");
    let mut random = XorShift(seed);

    let url = format!("{}/r1/{SERVICE}/echo", net.members[CONSUMER].internal);
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let (count_tx, mut count) = watch::channel(0usize);
    let count_tx = Arc::new(count_tx);
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for caller in 0..CONCURRENT_CALLERS {
        let (url, acknowledged, count_tx, stop) = (
            url.clone(),
            acknowledged.clone(),
            count_tx.clone(),
            stop.clone(),
        );
        callers.push(tokio::spawn(async move {
            let http = client();
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let body = vec![b'a' + (caller as u8); 100 + (n * 37) % 4000];
                let Ok(resp) = http
                    .post(&url)
                    .header("PSN-Client", CLIENT)
                    .timeout(Duration::from_secs(10))
                    .body(body)
                    .send()
                    .await
                else {
                    continue;
                };
                if resp.status() != 200 {
                    continue;
                }
                let id = resp.headers()["psn-message-id"]
                    .to_str()
                    .expect("id")
                    .to_owned();
                // Acknowledged only once the whole body (with the proof trailer) arrived.
                if resp.bytes().await.is_ok() {
                    let mut ids = acknowledged.lock().expect("ids");
                    ids.push(id);
                    count_tx.send_replace(ids.len());
                }
            }
        }));
    }

    let wait_for_more = |count: &mut watch::Receiver<usize>, more: usize| {
        let target = *count.borrow() + more;
        let mut count = count.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(60), count.wait_for(|n| *n >= target))
                .await
                .expect("the network kept answering")
                .expect("callers running");
        }
    };
    for round in 0..KILL_ROUNDS {
        wait_for_more(&mut count, 10 + random.next(50) as usize).await;
        match random.next(3) {
            0 => {
                provider.kill();
                provider = spawn_gateway(&net, PROVIDER);
            }
            1 => {
                consumer.kill();
                consumer = spawn_gateway(&net, CONSUMER);
            }
            _ => {
                provider.kill();
                consumer.kill();
                provider = spawn_gateway(&net, PROVIDER);
                consumer = spawn_gateway(&net, CONSUMER);
            }
        }
        println!("round {round}: {} acknowledged", *count.borrow());
    }
    wait_for_more(&mut count, 20).await;
    stop.store(true, Ordering::SeqCst);
    for caller in callers {
        caller.await.expect("caller");
    }
    // A last crash with nothing in flight, then a restart (which recovers any torn tail) and a
    // clean stop, so the logs are verified as an operator would find them.
    provider.kill();
    consumer.kill();
    let provider = spawn_gateway(&net, PROVIDER);
    let consumer = spawn_gateway(&net, CONSUMER);
    consumer.interrupt();
    provider.interrupt();

    let acknowledged = acknowledged.lock().expect("ids").clone();
    assert!(acknowledged.len() >= 50, "enough load to mean something");
    for (member, role) in [(CONSUMER, Role::Consumer), (PROVIDER, Role::Provider)] {
        let dir = net.members[member].dir.root();
        let report = verify(dir, &VerifyOptions::default(), &mut |_| {}).expect("verify");
        assert!(
            report.is_intact(),
            "{member}'s log after crashes (seed {seed}): {:?}",
            report.first_break
        );
        for id in &acknowledged {
            let found = find(dir, id).expect("find");
            assert!(
                found.iter().any(|f| f.record.role == role
                    && f.record.status == 200
                    && f.statement.is_some()),
                "{member} lost the record of acknowledged exchange {id} (seed {seed}): {found:?}"
            );
        }
    }
    net.stop().await;
}
