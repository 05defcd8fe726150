//! Bytes of heap per idle key, counted with a global allocator (one test in this binary, so
//! nothing else allocates meanwhile).

#![allow(unsafe_code)] // A counting global allocator is unsafe by its trait; it forwards to System.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use http::StatusCode;
use mastodon_auth_core::{RateLimitInfo, RateLimitKey, RateLimiter};
use mastodon_auth_ratelimit::{FakeClock, Pacer, RateLimitMethod};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

#[allow(clippy::cast_possible_wrap)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn an_idle_key_costs_less_than_512_bytes() {
    const KEYS: u64 = 20_000;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let pacer = Pacer::with_clock(
        RateLimitMethod::Pace { pacefactor: 1.1 },
        FakeClock::at_unix_secs(1000),
    );
    let mut headers = http::HeaderMap::new();
    headers.insert("x-ratelimit-limit", "300".parse().unwrap());
    headers.insert("x-ratelimit-remaining", "299".parse().unwrap());
    headers.insert("x-ratelimit-reset", "1300".parse().unwrap());
    let info = RateLimitInfo::from_headers(&headers);
    let before = LIVE.load(Ordering::Relaxed);
    rt.block_on(async {
        for id in 1..=KEYS {
            let key = key_with_id(id);
            pacer.before_request(key).await.unwrap();
            pacer
                .after_response(key, StatusCode::OK, info.clone())
                .await
                .unwrap();
        }
    });
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    #[allow(clippy::cast_precision_loss)]
    let per_key = bytes as f64 / KEYS as f64;
    println!("{per_key:.0} bytes per idle key ({KEYS} keys, {bytes} bytes)");
    assert_eq!(pacer.len(), usize::try_from(KEYS).unwrap());
    assert!(per_key < 512.0, "{per_key} bytes per key");
}

fn key_with_id(id: u64) -> RateLimitKey {
    RateLimitKey::for_token(&mastodon_auth_core::AccessToken::new(format!("token-{id}")))
}
