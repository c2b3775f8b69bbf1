/*
 * Says what happened when a process touches shared memory it holds no grant for.
 *
 * Why it exists: a client keeps every block it was not granted inaccessible (reserved, not mapped), and a
 * read-only grant read-only, so a stray access faults instead of reading or corrupting another owner's
 * data. Without this the fault reaches Bun's crash handler, which prints "Bun has crashed. This indicates
 * a bug in Bun": the wrong party blamed, and no word of which memory it was. Here a SIGSEGV whose address
 * lies in a registered region prints the region, the offset and what to do, then dies of the signal as
 * before (exit status 128 + 11). A SIGBUS there (the region's file was truncated under the mapping, or its
 * file system had no page to give) is explained the same way, and ends the process as SIGBUS (128 + 7).
 * A fault anywhere else goes on to the handler that was there before us.
 *
 * Everything in the handler is async-signal-safe: the ranges are a fixed table written before the
 * handler can see them, the message is formatted by hand into a stack buffer and written with write(2).
 *
 * The one fault survived: ivsh_digest_pieces_from_file copies from a mapped file, whose pages beyond its
 * end raise SIGBUS once the file is truncated while it is sent (or whose storage failed). Such a SIGBUS,
 * inside the source that copy was given and on the thread making it, jumps back out of the copy, which
 * returns a failure the sender reports (src/transfer/mapped-file.ts) instead of the process dying.
 *
 * Built with copyhash.c into the one helper library (scripts/native.mjs); used by src/ffi/native.ts.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h> /* getenv */
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

#define MAX_RANGES 64
#define LABEL_BYTES 200

struct range {
  /* 0: a free entry. Written last when an entry is filled, first when it is emptied. */
  volatile uintptr_t base;
  size_t length;
  char label[LABEL_BYTES];
};

static struct range ranges[MAX_RANGES];

/* The copy from a mapped file this thread is making, if any: where to jump back to, and its source. */
static __thread __attribute__((tls_model("initial-exec"))) sigjmp_buf *recovery;
static __thread __attribute__((tls_model("initial-exec"))) uintptr_t recovery_base, recovery_end;
/* The handlers that were there before us, for SIGSEGV and SIGBUS. */
static struct sigaction previous_segv, previous_bus;
/* What each line of an explanation starts with: "<3>" too when stderr is systemd's journal (src/journal.ts
 * says why), so journald files it as an error rather than info. Set once, before the handler is. */
static const char *line_start = "ivsh: ";

static void put(char *buffer, size_t *at, size_t size, const char *text) {
  while (*text && *at + 1 < size) buffer[(*at)++] = *text++;
}

static void put_hex(char *buffer, size_t *at, size_t size, uintptr_t value) {
  char digits[2 + 2 * sizeof value + 1];
  size_t count = 0;
  do {
    digits[count++] = "0123456789abcdef"[value & 15];
    value >>= 4;
  } while (value);
  put(buffer, at, size, "0x");
  while (count > 0 && *at + 1 < size) buffer[(*at)++] = digits[--count];
}

/* The range holding `address`, and its base as read once (another thread may unguard it meanwhile). */
static const struct range *range_of(uintptr_t address, uintptr_t *base_out) {
  for (int i = 0; i < MAX_RANGES; i++) {
    uintptr_t base = ranges[i].base;
    if (base && address >= base && address - base < ranges[i].length) {
      *base_out = base;
      return &ranges[i];
    }
  }
  return NULL;
}

/*
 * Whether a fault was a write to a page this process may read: a read grant's, which the list of causes
 * left a reader that wrote to puzzle out. The page fault's error code says write (bit 1); the kernel then
 * reads the byte for us, answering EFAULT rather than faulting where nothing may be read.
 */
static int wrote_readable(const void *context, uintptr_t address) {
#if defined(__x86_64__)
  const ucontext_t *state = context;
  if (!context || !(state->uc_mcontext.gregs[REG_ERR] & 2)) return 0;
  char byte;
  struct iovec local = {&byte, 1}, remote = {(void *)address, 1};
  return syscall(SYS_process_vm_readv, getpid(), &local, 1UL, &remote, 1UL, 0UL) == 1;
#else
  (void)context;
  (void)address;
  return 0;
#endif
}

/* Which offset of which region faulted, why, and what to do; formatted on the stack, async-signal-safe. */
static void explain(const struct range *range, uintptr_t base, uintptr_t address, int signal, int code,
                    int read_only) {
  char message[768];
  size_t at = 0;
  put(message, &at, sizeof message, line_start);
  put(message, &at, sizeof message,
      signal == SIGBUS ? "this process touched shared memory with no memory behind it: offset "
      : read_only      ? "this process wrote to shared memory it may only read: offset "
                       : "this process touched shared memory it holds no grant for: offset ");
  put_hex(message, &at, sizeof message, address - base);
  put(message, &at, sizeof message, " of the region ");
  put(message, &at, sizeof message, range->label);
  if (signal == SIGBUS) {
    put(message, &at, sizeof message,
        " (its file was truncated while in use, or its file system is full: a tmpfs such as /dev/shm gives "
        "pages only as they are touched).\n");
    put(message, &at, sizeof message, line_start);
    put(message, &at, sizeof message,
        "free space on that file system, or start the arbiter again on an intact region.\n");
  } else if (read_only) {
    put(message, &at, sizeof message, " (a read grant: its Segment was opened or allocated with mode \"read\").\n");
    put(message, &at, sizeof message, line_start);
    put(message, &at, sizeof message,
        "write through a Segment held \"write\" or \"write-exclusive\": free() this one and open() the segment "
        "again with mode \"write\" (refused while another client holds it write-exclusive). This is a bug in "
        "the program, not in ivsh or Bun.\n");
  } else {
    put(message, &at, sizeof message,
        code == SEGV_ACCERR
            ? " (not granted to this client, freed, written through a read grant, its client closed, or its "
              "session lost: the lease expired and the arbiter gave its blocks away).\n"
            : " (not mapped in this process).\n");
    put(message, &at, sizeof message, line_start);
    put(message, &at, sizeof message,
        "access only the bytes of a Segment you hold (alloc() or open(), with mode \"write\" to write), "
        "and none after its free(), its client's close() or an error saying the session was lost. This is a bug "
        "in the program, not in ivsh or Bun.\n");
  }
  ssize_t ignored = write(STDERR_FILENO, message, at);
  (void)ignored;
}

/* Back to the default action: returning re-runs the faulting access, which then ends the process. */
static void die_of_it(int signal) {
  struct sigaction fallback;
  memset(&fallback, 0, sizeof fallback);
  fallback.sa_handler = SIG_DFL;
  sigaction(signal, &fallback, NULL);
}

static void on_fault(int signal, siginfo_t *info, void *context) {
  uintptr_t address = (uintptr_t)info->si_addr;
  if (signal == SIGBUS && info->si_code > 0 && recovery && address >= recovery_base && address < recovery_end) {
    sigjmp_buf *back = recovery;
    recovery = NULL;
    siglongjmp(*back, 1); /* out of the copy, whose stack frames hold no lock and no allocation */
  }
  const struct sigaction previous = signal == SIGBUS ? previous_bus : previous_segv;
  uintptr_t base = 0;
  /* si_code > 0: the kernel reports a real fault at si_addr (a signal sent by kill has no address). */
  const struct range *range = info->si_code > 0 ? range_of((uintptr_t)info->si_addr, &base) : NULL;
  if (range) {
    const int read_only = signal == SIGSEGV && info->si_code == SEGV_ACCERR && wrote_readable(context, address);
    explain(range, base, address, signal, info->si_code, read_only);
    die_of_it(signal);
    return;
  }
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction) previous.sa_sigaction(signal, info, context);
    else die_of_it(signal);
    return;
  }
  /* Ignoring a fault would re-run the access for ever: SIG_IGN, like SIG_DFL, ends the process. */
  if (previous.sa_handler == SIG_IGN || previous.sa_handler == SIG_DFL) {
    die_of_it(signal);
    if (info->si_code <= 0) raise(signal); /* a sent signal re-runs nothing: deliver it again */
    return;
  }
  previous.sa_handler(signal);
}

/* `value` in decimal at `at` of `text`; returns where it ends. */
static size_t put_decimal(char *text, size_t at, unsigned long long value) {
  char digits[20];
  size_t count = 0;
  do {
    digits[count++] = (char)('0' + value % 10);
    value /= 10;
  } while (value);
  while (count > 0) text[at++] = digits[--count];
  return at;
}

/*
 * Whether stderr is the stream systemd named in JOURNAL_STREAM: the variable is exactly stderr's
 * "device:inode" in decimal, as systemd writes it and src/journal.ts compares it. Parsed with strtoull, a
 * value src/journal.ts refused (" 1:2", "01:2", "-N" wrapping round to the device) was taken here.
 */
static int stderr_is_journal(void) {
  const char *stream = getenv("JOURNAL_STREAM");
  if (!stream) return 0;
  struct stat status; /* the kernel's struct stat on x86-64, the one platform ivsh runs on */
  if (syscall(SYS_fstat, STDERR_FILENO, &status) != 0) return 0; /* see install() on glibc versions */
  char expected[20 + 1 + 20 + 1];
  size_t at = put_decimal(expected, 0, (unsigned long long)status.st_dev);
  expected[at++] = ':';
  at = put_decimal(expected, at, (unsigned long long)status.st_ino);
  expected[at] = '\0';
  return strcmp(stream, expected) == 0;
}

static int install_result = -1;

static void install_once(void) {
  if (stderr_is_journal()) line_start = "<3>ivsh: ";
  struct sigaction mine;
  memset(&mine, 0, sizeof mine);
  mine.sa_sigaction = on_fault;
  mine.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&mine.sa_mask);
  if (sigaction(SIGSEGV, &mine, &previous_segv) != 0) return;
  if (sigaction(SIGBUS, &mine, &previous_bus) != 0) {
    /* Reported as not installed: none of ours stays (the process is as without the helper). */
    sigaction(SIGSEGV, &previous_segv, NULL);
    return;
  }
  install_result = 0;
}

/*
 * Once per process, whichever thread loads the helper first: two installing at once would each take the
 * other's handler for the one before ours, and a fault elsewhere would then call ours for ever. Not
 * pthread_once, nor fstat above: built against glibc 2.34 (2.33) or later they ask for those versions, and
 * the compiled ivsh, which embeds the helper and runs wherever Bun does (glibc 2.17), ran without it on
 * older systems (test/native-build.test.ts).
 */
static int install(void) {
  static atomic_int state; /* 0: not yet; 1: a thread is installing; 2: done, install_result says how */
  int expected = 0;
  if (atomic_compare_exchange_strong(&state, &expected, 1)) {
    install_once();
    atomic_store(&state, 2);
  } else {
    while (atomic_load(&state) != 2) sched_yield();
  }
  return install_result;
}

/*
 * Registers [base, base + length) as a region named `label` (its path): a fault inside it is explained.
 * Returns 0, or -1 if the table is full or the handler could not be installed.
 */
EXPORT int ivsh_guard_region(uintptr_t base, uint64_t length, const char *label) {
  if (install() != 0) return -1;
  for (int i = 0; i < MAX_RANGES; i++) {
    if (ranges[i].base) continue;
    ranges[i].length = (size_t)length;
    strncpy(ranges[i].label, label, LABEL_BYTES - 1);
    ranges[i].label[LABEL_BYTES - 1] = '\0';
    __atomic_store_n(&ranges[i].base, base, __ATOMIC_RELEASE); /* the entry is complete before it is seen */
    return 0;
  }
  return -1;
}

/* Forgets the region at `base` (it is being unmapped); a fault there is then no longer ours to explain. */
EXPORT void ivsh_unguard_region(uintptr_t base) {
  for (int i = 0; i < MAX_RANGES; i++)
    if (ranges[i].base == base) __atomic_store_n(&ranges[i].base, 0, __ATOMIC_RELEASE);
}

uint64_t ivsh_digest_pieces(uint8_t *destination, const uint8_t *source, uint64_t length,
                            uint64_t piece_bytes, uint64_t *state, int hash_copy);

/* What ivsh_digest_pieces_from_file returns when the source's pages could not be read. */
#define SOURCE_LOST UINT64_MAX

/* 0 once the handler that makes ivsh_digest_pieces_from_file survive a SIGBUS is in place, else -1. */
EXPORT int ivsh_file_copy_ready(void) { return install(); }

/*
 * ivsh_digest_pieces (copy and hash, hashing the source) from memory mapped from a file: a SIGBUS reading
 * the source (the file truncated under the mapping, or its storage failing) returns SOURCE_LOST with *state
 * unchanged and part of the copy made. ivsh_file_copy_ready must have returned 0.
 */
EXPORT uint64_t ivsh_digest_pieces_from_file(uint8_t *destination, const uint8_t *source, uint64_t length,
                                             uint64_t piece_bytes, uint64_t *state) {
  sigjmp_buf back;
  /*
   * The mask is not saved (that is an rt_sigprocmask per copy: one per 4 KiB chunk with --chunk-size 4096)
   * but mended on the jump's path alone. The jump leaves the handler, which ran with SIGBUS added to the
   * thread's mask (its sa_mask is empty), so unblocking SIGBUS gives back the mask of before the copy:
   * SIGBUS was not blocked then, or its fault would have ended the process instead of reaching the handler.
   */
  if (sigsetjmp(back, 0)) {
    sigset_t bus;
    sigemptyset(&bus);
    sigaddset(&bus, SIGBUS);
    /* This thread's mask on Linux; not pthread_sigmask, which asks for glibc 2.32 (see install()). */
    sigprocmask(SIG_UNBLOCK, &bus, NULL);
    return SOURCE_LOST;
  }
  recovery_base = (uintptr_t)source;
  recovery_end = recovery_base + length;
  recovery = &back;
  /* The handler reads these on this thread: they must be stored before the copy's first access. */
  atomic_signal_fence(memory_order_seq_cst);
  uint64_t done = ivsh_digest_pieces(destination, source, length, piece_bytes, state, 0);
  atomic_signal_fence(memory_order_seq_cst); /* the copy's last access before the jump is disarmed */
  recovery = NULL;
  return done;
}
