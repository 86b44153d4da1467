//! Returning freed memory to the system between batches, shared by extraction and fine-tuning.

/// Returns the C allocator's free memory to the system (glibc `malloc_trim`; a no-op elsewhere).
///
/// libtorch frees a batch's activations through glibc malloc, whose dynamic mmap threshold soon
/// serves tensors of up to 32 MB from the heap; the freed, fragmented heap then stays resident
/// and grows with the number of batches of varied shapes. Trimming after every chunk
/// (extraction) or update (fine-tuning) keeps the resident size that of one batch.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::os::raw::c_int;
        }
        // SAFETY: malloc_trim only releases free pages of the allocator's own arenas.
        unsafe {
            malloc_trim(0);
        }
    }
}
