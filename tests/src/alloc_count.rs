//! A counting global allocator for memory-bound tests: the system allocator, counting
//! the bytes of live blocks as glibc's malloc sizes them (an 8-byte header, a multiple
//! of 16, at least 32). A test binary installs it with
//! `#[global_allocator] static ALLOC: Counting = Counting;` and reads [`live`].

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicIsize, Ordering::Relaxed},
};

pub struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Bytes in live blocks allocated through [`Counting`].
pub fn live() -> isize {
    LIVE.load(Relaxed)
}

fn block(size: usize) -> isize {
    (size + 8).next_multiple_of(16).max(32) as isize
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(block(l.size()), Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(block(l.size()), Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(block(l.size()), Relaxed);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(block(new) - block(l.size()), Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}
