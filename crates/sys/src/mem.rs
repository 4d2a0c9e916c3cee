//! Memory and clock facts of this machine, and memory shared with forked children.

use std::io;

/// The size of a memory page (statm and slabinfo count in pages).
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 {
        v as u64
    } else {
        4096
    }
}

/// Stops glibc's malloc from growing the heap 128 KiB past each request (`M_TOP_PAD` = 0):
/// a program whose big tables are allocated once gains nothing from the pad, and the pad is
/// resident memory (measured: 123 KB in a TUN client, 0.41 B per connection at 300,000).
/// `false` where the allocator has no such knob.
pub fn no_malloc_top_pad() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt takes two ints and changes allocator parameters; no pointers.
        unsafe { libc::mallopt(libc::M_TOP_PAD, 0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Clock ticks per second (the unit of utime/stime in /proc/PID/stat).
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v > 0 {
        v as u64
    } else {
        100
    }
}

/// An anonymous `MAP_SHARED` mapping of `len` zeroed bytes: the same pages in this process and in
/// every child forked after it ([`crate::shm`]).
pub(crate) fn map_shared(len: usize) -> io::Result<*mut u8> {
    // SAFETY: an anonymous mapping with no address hint; the result is checked below.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p as *mut u8)
}

/// Unmaps what [`map_shared`] returned.
pub(crate) fn unmap_shared(ptr: *mut u8, len: usize) {
    // SAFETY: callers pass exactly a mapping made by `map_shared` and hold no reference into it.
    unsafe { libc::munmap(ptr as *mut libc::c_void, len) };
}
