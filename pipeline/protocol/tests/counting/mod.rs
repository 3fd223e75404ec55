//! Memory bounds for the resource-exhaustion tests (attack 7): a global allocator that counts, per
//! thread, the bytes allocated and the peak of live bytes, with GMP's allocations routed through
//! it and also counted apart, so a bound covers bignum memory and "no bignum work" is a count of
//! zero. Counters are per thread: tests running in parallel do not disturb each other's.
//!
//! GMP takes its allocation functions from globals set once, before `main` (an `.init_array`
//! constructor), so no GMP integer is ever allocated by one allocator and freed by another. The
//! functions go through Rust's allocator, whose system allocator is malloc and free: blocks stay
//! interchangeable either way.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
    static BIGNUM: Cell<usize> = const { Cell::new(0) };
}

fn grew(bytes: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + bytes as isize;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
    let _ = ALLOCATED.try_with(|a| a.set(a.get() + bytes));
}

fn shrank(bytes: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get() - bytes as isize));
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are updated
// (const-initialised thread locals without destructors: no allocation, no re-entrance).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// GMP's allocation functions, through the counting allocator.
mod gmp_hook {
    use super::BIGNUM;
    use std::alloc::Layout;
    use std::ffi::c_void;

    /// GMP allocates limbs (8 bytes); a size of 0 is never passed, but is made 1 to be safe.
    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size.max(1), 8).expect("a valid layout")
    }

    fn counted(size: usize) {
        let _ = BIGNUM.try_with(|b| b.set(b.get() + size));
    }

    extern "C" fn alloc(size: usize) -> *mut c_void {
        counted(size);
        // SAFETY: a non-zero size and a valid alignment.
        let p = unsafe { std::alloc::alloc(layout(size)) };
        if p.is_null() {
            std::alloc::handle_alloc_error(layout(size));
        }
        p.cast()
    }

    unsafe extern "C" fn realloc(ptr: *mut c_void, old: usize, new: usize) -> *mut c_void {
        counted(new.saturating_sub(old));
        // SAFETY: GMP passes a block it got from `alloc` or `realloc` with its size.
        let p = unsafe { std::alloc::realloc(ptr.cast(), layout(old), new.max(1)) };
        if p.is_null() {
            std::alloc::handle_alloc_error(layout(new));
        }
        p.cast()
    }

    unsafe extern "C" fn free(ptr: *mut c_void, size: usize) {
        // SAFETY: as for `realloc`.
        unsafe { std::alloc::dealloc(ptr.cast(), layout(size)) }
    }

    extern "C" fn install() {
        // SAFETY: runs before `main`, on one thread, before any GMP integer exists.
        unsafe {
            gmp_mpfr_sys::gmp::set_memory_functions(Some(alloc), Some(realloc), Some(free));
        }
    }

    #[used]
    #[unsafe(link_section = ".init_array")]
    static INSTALL: extern "C" fn() = install;
}

/// What a closure allocated on the calling thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Peak of live bytes above those live when it started (Rust and GMP).
    pub peak: usize,
    /// Bytes allocated in all, freed or not (Rust and GMP).
    pub allocated: usize,
    /// Bytes GMP allocated (bignum work), freed or not.
    pub bignum: usize,
}

/// Runs `f` and reports what it allocated on this thread.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Usage) {
    let start_live = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start_live));
    let start_allocated = ALLOCATED.with(Cell::get);
    let start_bignum = BIGNUM.with(Cell::get);
    let out = f();
    let usage = Usage {
        peak: (PEAK.with(Cell::get) - start_live).max(0) as usize,
        allocated: ALLOCATED.with(Cell::get) - start_allocated,
        bignum: BIGNUM.with(Cell::get) - start_bignum,
    };
    (out, usage)
}

/// One kibibyte, one mebibyte, one gibibyte.
pub const KIB: usize = 1 << 10;
pub const MIB: usize = 1 << 20;
pub const GIB: usize = 1 << 30;

/// A self-check of the meter, run by every binary that uses it: a bound that cannot fail is no
/// bound. A 1 MiB vector and a 1 MiB bignum are seen.
#[test]
fn the_allocation_meter_sees_rust_and_gmp_memory() {
    let (v, usage) = measure(|| vec![7u8; MIB]);
    assert!(usage.peak >= MIB && usage.allocated >= MIB && usage.bignum == 0);
    drop(v);
    let (x, usage) = measure(|| rug::Integer::from(1) << (8 * MIB as u32));
    assert!(usage.bignum >= MIB, "{usage:?}");
    assert!(usage.peak >= MIB, "{usage:?}");
    drop(x);
    let (_, usage) = measure(|| 1 + 1);
    assert_eq!(
        usage,
        Usage {
            peak: 0,
            allocated: 0,
            bignum: 0
        }
    );
}
