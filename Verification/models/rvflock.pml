/*
 * rvflock.pml -- Promela model of the RVF writer lock AS IMPLEMENTED in
 * Swift. See Verification/README.md. Where the steps live (Sources/RVFLock/):
 *   The steps are the methods of Internal/Acquisition/Acquisition.swift, named as
 *   in Protocol.md ("Acquire"):
 *   A1-A3  prepare()        Internal/LockFile/PreparedLockFile.swift (init)
 *   A4     link()           PreparedLockFile.link(to:)
 *   A5a-d  open(), contend(for:), queue(on:), judge(_:)
 *                           Internal/LockFile/OpenLockFile.swift (open, tryExclusive,
 *                           waitForExclusive, isAtLockPath) + StalenessJudge.swift
 *   A5e'   takeOver(_:)     PreparedLockFile.replace(_:judged:location:) (the swap)
 *   A5e-f  breakJudged(_:bytes:)  OpenLockFile.remove(judged:) (also breakLock())
 *          (the implementation also re-reads the record bytes before the swap or
 *          the rename: that only adds an early "changed" exit)
 *   H, R   Internal/LockFile/HeldLock.swift (beat/verify, release(), releaseInPlace)
 *   Not modelled: breakLock(force: true) (operator's forced break, which by
 *   design ignores the flock) and observers (status/wait: LOCK_SH for
 *   microseconds, never unlink; a judge that meets only shared locks waits for
 *   them, which is the blocking branch of A5b). The reference implementation
 *   (or any writer of another user that takes no flock) is the optional
 *   `Foreign` process (-DFOREIGN), which makes the breaker's put-back reachable.
 *
 * World
 *   L          the lock path: 0 = names no inode, i = names inode i.
 *   moved      a breaker's private name (`.NAME.PID.RAND.breaking`) within its
 *              rename-check-unlink step: the inode it names (see A5e-A5f).
 *   flk[i]     flock(LOCK_EX) state of inode i: 0 = free, p+1 = held by an
 *              open file description of process p (exclusive: one holder).
 *   T[p],J[p]  p's open descriptors (inode number, 0 = closed): T = p's own
 *              lock file, J = the judge's (and waiter's) descriptor opened on L.
 *   An inode is free (and its number reusable, as the kernel does) only when
 *   it is not linked and no descriptor refers to it.
 *   The record inside an inode (owner, timestamp) is always complete in our
 *   implementation and no decision depends on its content on one machine
 *   (flock obtainable => holder dead), so it is not modelled.
 *
 * Mapping Promela step -> implementation step
 *   A1-A3  d_step "A1-A3": O_TMPFILE T (A1), flock(T,EX|NB) succeeds (A2),
 *          write full record (+ fsync on network file systems) (A3). One step:
 *          T is invisible to everyone else, so any interleaving/crash inside it
 *          is equivalent to one before it (T is just discarded).
 *   A4     "A4 link":  linkat(T -> L) succeeds iff L == 0; P enters the CS.
 *          The predecessor (J, if this process holds the flock of a file just
 *          released or broken) is kept, with its flock, until R2b.
 *   A4'    linkat fails with EEXIST: close the predecessor, then
 *   A5a    "A5a open": open(L) -> J (back to A4 if L names nothing by then).
 *   A5b    flock(J): non-blocking success; or, for a waiter, blocking in the
 *          kernel's queue until granted (the holder released or died); or
 *          failure => busy (try-lock). With -DJUDGE_MAY_REFUSE the judge holding
 *          the flock may still say "not stale" (another implementation's lock,
 *          a young invalid file): close J, busy.
 *   A5c    fstat(J).st_nlink == 0: the file was released or broken: keep J (and
 *          its flock) as the predecessor and go to A4, so that the next waiter
 *          in the kernel's queue wakes only after this one linked its file, and,
 *          once linked, released it (R2b).
 *          (The implementation tries A4 first and looks whether J is at L only
 *          when the link fails: a failed link changes nothing, so the order of
 *          the two is the model's.)
 *   A5d    lstat(L) names J's inode? else close J and retry.
 *   A5e'   the swap (default; -DNO_EXCHANGE models file systems without it):
 *          renameat2(T's private name, L, RENAME_EXCHANGE) puts T at L and
 *          WHATEVER L named at the private name; lstat(private name) is J's
 *          inode: the CS, then unlink the old file and close J; otherwise swap
 *          back (L = that file again) and retry.
 *   A5e    "A5e rename": rename(L -> moved): moves WHATEVER L names at that
 *          moment (the model does not assume it is J's inode).
 *   A5f    lstat(moved) is J's inode: unlink it and keep J as the predecessor;
 *          otherwise put it back: renameat2(moved -> L, RENAME_NOREPLACE), which
 *          succeeds iff L is free; if not, the file stays aside (displaced: never
 *          unlinked); close J. (MUTANT_UNLINK_AFTER_PUT_BACK: the old put-back,
 *          link(), which fs.protected_hardlinks may refuse for another user's
 *          file, followed by an unlink of the moved file whatever happened.)
 *   busy   close J; then either wait (retry from A4 with the same T) or give
 *          up (try-lock failure: close T, start over at A1 later).
 *   H      "H heartbeat": rewrite timestamp in own inode (no path effect),
 *          check L still names T: asserted (never "lost the lock").
 *   R1     "R1 lstat": leave the CS (ghost), lstat(L) == T ? -- asserted
 *          (never "taken over").
 *   R2     "R2 unlink": unlink(L) (asserted to remove exactly T's inode).
 *   R2b    close the predecessor J kept since A4 (flock(J, LOCK_UN), close):
 *          the waiters left in J's queue wake before those in T's.
 *   R3     "R3 close T": releases the flock on T.
 *   crash  any step: a Crasher process raises crashreq[p] at any time (at
 *          most MAXCRASH times in total); p's `unless` escape then closes all
 *          its descriptors (flocks on T and J are released, nothing is
 *          unlinked: a linked lock file, or a breaker's private file, stays on
 *          disk) and p restarts as a fresh process (new id; ids do not matter).
 *   pause  needs no modelling: spin explores every interleaving, so a process
 *          may be delayed arbitrarily long between any two steps, keeping its
 *          descriptors and flocks.
 *
 * Properties
 *   mutual exclusion   assert(incs <= 1) on every CS entry, plus
 *                      H / R1 / R2 / A5f assertions (holder never loses L,
 *                      a breaker moves exactly the inode it judged).
 *   dead_holder_taken  [] (dh -> <> (incs > 0)): dh is set when a process
 *                      crashes while its inode is linked at L (dead holder);
 *                      checked with weak fairness (pan -a -f).
 *
 * Compile-time switches (spin -D...; see check-models.sh)
 *   N, MAXCRASH          processes (3), total crashes (2)
 *   JUDGE_MAY_REFUSE     a judge holding the flock may still say "not stale"
 *   TRY_GIVE_UP          a busy contender may give up (try-lock) and restart
 *   LIVENESS             ghost dh + the ltl claim
 *   MUTANT_NO_RECHECK    broken variant: no A5c/A5d re-check and no check of
 *                        the moved file (the old check-free unlink)
 *   MUTANT_CLOSE_BEFORE_UNLINK   broken variant: release drops the flock first
 *                        (both must be refuted by spin: negative controls)
 *   FOREIGN              a writer that takes no flock (the reference, another
 *                        user's): creates L when free, replaces a lock whose
 *                        holder is dead in one step (delete + create), releases
 *                        by unlinking L if it still names its file. Asserted:
 *                        no RVFLock process ever unlinks its file while it holds
 *                        the lock (mutual exclusion is asserted among RVFLock
 *                        processes only: against a writer that takes no flock a
 *                        window remains, see Protocol.md)
 *   MUTANT_UNLINK_AFTER_PUT_BACK broken variant (with FOREIGN, NO_EXCHANGE): the
 *                        put-back may fail (link refused) and the moved file is
 *                        then unlinked
 *   NO_EXCHANGE          file systems without RENAME_EXCHANGE (NFS): a waiter breaks
 *                        the dead holder's file (A5e-A5f) and links (A4)
 *   MUTANT_UNVERIFIED_SWAP broken variant (with FOREIGN): the swap's result is not
 *                        checked; the foreign writer's live file is unlinked
 */

#ifndef N
#define N 3                 /* processes */
#endif
#ifndef MAXCRASH
#define MAXCRASH 2          /* total crashes (each followed by a restart) */
#endif
#ifndef FOREIGN_ROUNDS
#define FOREIGN_ROUNDS 3    /* acquisitions of the foreign writer */
#endif
#ifdef FOREIGN
#define KMAX (MAXCRASH+N+2*FOREIGN_ROUNDS)   /* files kept at a private name: displaced, left by a crash mid-move */
#else
#define KMAX (MAXCRASH+N)   /* files kept at a private name: left by a crash mid-move */
#endif
#ifdef FOREIGN
#define NI (3*N+2+KMAX)     /* T, J and a moved file per process, an orphan at L, the foreign's, kept files */
#else
#define NI (3*N+1+KMAX)     /* T, J and a moved file per process, an orphan at L, kept files */
#endif

byte L = 0;
byte flk[NI+1];             /* index 0 unused */
byte T[N];
byte J[N];
bool inCS[N];
byte incs = 0;              /* ghost: processes in the CS */
bool crashreq[N];
byte crashes = 0;
byte moved[N];              /* the file p moved to its private name (rename or swap), until it acts on it */
byte kept[KMAX];            /* files that stay at a private name for good (displaced; or a crash mid-move) */
byte nkept = 0;
#define KEEP(i)  if :: (i) != 0 -> assert(nkept < KMAX); kept[nkept] = (i); nkept++ :: else -> skip fi
#ifdef FOREIGN
byte F = 0;                 /* the foreign writer's inode while it exists */
bool fin = false;           /* the foreign writer believes it holds the lock */
bool flost = false;         /* ghost: an RVFLock process unlinked F while fin */
#define UNLINKED(i)  if :: (fin && (i) == F) -> flost = true :: else -> skip fi
/* A releaser unlinks by name after its check: beside a writer that takes no
   flock, a cascade inside that moment (a breaker moving the releaser's file aside,
   the foreign writer creating its own at the free L) makes it unlink the foreign
   writer's file. Not asserted: see Verification/README.md. */
#define RELEASER_UNLINKED(i)  skip
#else
#define UNLINKED(i)  skip
#define RELEASER_UNLINKED(i)  skip
#endif
#ifdef LIVENESS
bool dh = false;            /* ghost: a dead holder's file is at L, not yet re-acquired */
#define SET_DH(v)  dh = v
#else
#define SET_DH(v)  skip      /* ghost only needed for the liveness property */
#endif

/* A holder's file is at L from its CS entry to its release, so its release
   unlinks exactly its own file. Beside a writer that takes no flock it is not:
   that writer may delete a judged file and leave L free between a waiter's check
   and its swap (or a breaker's rename), and the swap (rename) then takes the new
   holder's file out for a moment before putting it back; the holder's loss
   detection reports it, and a release in that moment unlinks the waiter's file
   instead of its own (the waiter's swap back then fails; nobody holds more than
   before). Only the FOREIGN checks allow it. */
#ifdef FOREIGN
#define HOLDER(c)  skip
#else
#define HOLDER(c)  assert(c)
#endif
/* Mutual exclusion among RVFLock processes; beside a writer that takes no flock,
   on a file system without RENAME_EXCHANGE, the rename leaves L free for another
   process to link while a holder's file is aside: not asserted there. */
#if defined(FOREIGN) && defined(NO_EXCHANGE)
#define EXCLUSIVE(c)  skip
#else
#define EXCLUSIVE(c)  assert(c)
#endif

/* "removes exactly the inode judged/owned" -- a diagnostic assertion; off in
   the mutant runs so that a mutant must break mutual exclusion itself */
#if defined(MUTANT_NO_RECHECK) || defined(MUTANT_CLOSE_BEFORE_UNLINK)
#define EXACT(c)  skip
#else
#define EXACT(c)  assert(c)
#endif

/* is inode i referenced by any descriptor? (k: scratch) */
inline inode_free(i, k, res) {
  res = (L != i);
  k = 0;
  do
  :: k < N -> if :: (T[k] == i || J[k] == i || moved[k] == i) -> res = false :: else -> skip fi;
              k++
  :: else -> break
  od;
  k = 0;
  do
  :: k < nkept -> if :: kept[k] == i -> res = false :: else -> skip fi; k++
  :: else -> break
  od;
#ifdef FOREIGN
  if :: F == i -> res = false :: else -> skip fi
#endif
}

/* close J, releasing its flock if p holds it */
inline close_J(p) {
  if :: J[p] != 0 && flk[J[p]] == p + 1 -> flk[J[p]] = 0 :: else -> skip fi;
  J[p] = 0
}

proctype Proc(byte p) {
  byte i, k;
  bool ok, same;

  do
  :: {
    skip;                                          /* (a label may not open an unless body) */
start:
    /* A1-A3: O_TMPFILE, flock(T) (always succeeds), write record, fsync */
    atomic {
      i = 1;
      do
      :: i > NI -> assert(false)     /* inode pool too small: model bug */
      :: i <= NI -> inode_free(i, k, ok); if :: ok -> break :: else -> i++ fi
      od;
      T[p] = i; flk[i] = p + 1;
      i = 0; k = 0; ok = false
    };

acquire:
    do
    :: atomic { L == 0 ->                          /* A4 link: success */
         L = T[p]; inCS[p] = true; incs++; SET_DH(false);
         EXCLUSIVE(incs <= 1)                      /* MUTUAL EXCLUSION */
       };
       break                                       /* the predecessor J is kept until R2b */
    :: atomic { L != 0 -> close_J(p) };            /* A4 EEXIST; close the predecessor */
       if
       :: atomic { L != 0 -> J[p] = L }            /* A5a open(L) */
       :: atomic { L == 0 -> skip }; goto acquire  /* ENOENT: link again */
       fi;
       if
       :: atomic { flk[J[p]] == 0 -> flk[J[p]] = p + 1 }   /* A5b flock(EX|NB) succeeds */
       :: atomic { flk[J[p]] != 0 -> skip };                /* A5b refused: a waiter queues in the kernel ... */
          atomic { flk[J[p]] == 0 -> flk[J[p]] = p + 1 }    /* ... until granted */
       :: atomic { flk[J[p]] != 0 -> J[p] = 0 };            /* A5b refused: busy (try-lock) */
          goto busy
       fi;
#ifndef MUTANT_NO_RECHECK
       if
       :: L != J[p] -> goto acquire                /* A5c nlink == 0: J is the predecessor */
       :: else -> skip
       fi;
#endif
#ifdef JUDGE_MAY_REFUSE
       if
       :: atomic { close_J(p) }; goto busy         /* judged NOT stale: close J, busy */
       :: skip                                     /* judged stale */
       fi;
#endif
#ifdef FOREIGN
       /* the foreign writer's record names a live process: not stale */
       if
       :: atomic { (fin && J[p] == F) -> close_J(p) }; goto busy
       :: else -> skip
       fi;
#endif
#ifndef MUTANT_NO_RECHECK
       same = (L == J[p]);                         /* A5d lstat(L) ino == J ino */
#else
       same = true;                                /* mutant: move without the re-checks (A5c, A5d) */
#endif
       if
       :: !same -> atomic { close_J(p); same = false }; goto acquire
       :: else -> skip
       fi;
#ifndef NO_EXCHANGE
       /* A5e' swap: renameat2(T's private name, L, RENAME_EXCHANGE) swaps WHATEVER L
          names at that moment with T; then lstat(private name) is J's inode? Then
          T is at L: the CS, and the old file (now at the private name) is unlinked
          and J closed. Otherwise swap back (T's name, and the other file's place,
          are its own: nobody else acts on either meanwhile). */
          if
          :: atomic { L == 0 -> close_J(p) }; goto acquire   /* ENOENT: gone meanwhile */
          :: atomic { L != 0 -> moved[p] = L; L = T[p]; same = false;
               if
#ifndef MUTANT_UNVERIFIED_SWAP
               :: moved[p] == J[p] ->
#else
               :: true ->                              /* mutant: takes the lock whatever came out */
#endif
                    inCS[p] = true; incs++; SET_DH(false);
                    EXCLUSIVE(incs <= 1)               /* MUTUAL EXCLUSION */
               :: else -> skip
               fi
             };
             if
             :: inCS[p] ->
                  atomic { UNLINKED(moved[p]); moved[p] = 0 };  /* the old file, at the private name */
                  atomic { close_J(p) };                  /* the predecessor: the next may move up */
                  break                                   /* holding the lock */
             :: else ->
#ifndef FOREIGN
                  EXACT(false);                        /* unreachable without a writer that takes no flock */
#endif
                  /* swap back, if L still names T (lstat, then renameat2 EXCHANGE);
                     otherwise T was removed or moved meanwhile (only beside a writer
                     that takes no flock): keep the other file aside, start anew */
                  if
                  :: atomic { L == T[p] -> L = moved[p]; moved[p] = 0; close_J(p) }; goto acquire
                  :: atomic { L != T[p] -> KEEP(moved[p]); moved[p] = 0; close_J(p);
                              flk[T[p]] = 0; T[p] = 0 }; goto start
                  fi
             fi
          fi;
#else
       /* A5e rename(L -> private), then A5f: check and unlink, or put back. The
          breaker's way (breakLock), and where names cannot be swapped (NFS). */
       if
       :: atomic { L == 0 -> close_J(p) }; goto acquire      /* ENOENT: gone meanwhile */
       :: atomic { L != 0 -> moved[p] = L; L = 0; same = false }
       fi;
#ifndef MUTANT_NO_RECHECK
       if
       :: atomic { moved[p] == J[p] -> UNLINKED(moved[p]); moved[p] = 0 }   /* A5f the judged inode: unlink it; J is the predecessor */
       :: atomic { moved[p] != J[p] ->                /* A5f another file was moved: put it back */
#ifndef FOREIGN
              EXACT(false);                        /* unreachable without a writer that takes no flock */
#endif
#ifndef MUTANT_UNLINK_AFTER_PUT_BACK
              if
              :: L == 0 -> L = moved[p]               /* renameat2 NOREPLACE: back at L */
              :: else ->                           /* L taken meanwhile: kept aside, never unlinked */
                   KEEP(moved[p])
              fi;
#else
              if
              :: L == 0 -> L = moved[p]               /* link() back ... */
              :: true -> skip                      /* ... or refused (EPERM) */
              fi;
              UNLINKED(moved[p]);                     /* ... then the moved name is unlinked */
#endif
              moved[p] = 0;
              close_J(p)
          }
       fi;
#else
       atomic { UNLINKED(moved[p]); moved[p] = 0 };      /* mutant: unlinks whatever was moved, unchecked */
#endif
#endif
busy:
       skip                                        /* wait: retry from A4 */
#ifdef TRY_GIVE_UP
       ;
       if
       :: skip
       :: atomic { J[p] == 0 -> flk[T[p]] = 0; T[p] = 0 };   /* try: give up, close T */
          goto start
       fi
#endif
    od;

    /* critical section */
    HOLDER(L == T[p]);                             /* H heartbeat: still ours */

    atomic { inCS[p] = false; incs--;              /* R1: CS ends, lstat(L) */
             HOLDER(L == T[p]) };                  /*     never "taken over" */
#ifndef MUTANT_CLOSE_BEFORE_UNLINK
    atomic { HOLDER(L == T[p]); RELEASER_UNLINKED(L); L = 0 } /* R2 unlink(L) */
    atomic { close_J(p) }                          /* R2b close the predecessor */
    atomic { flk[T[p]] = 0; T[p] = 0 }             /* R3 close(T) */
#else
    atomic { flk[T[p]] = 0 };                      /* mutant: R3 close(T) first ... */
    atomic { L = 0; T[p] = 0 };                    /* ... then R2 unlink(L) */
    atomic { close_J(p) }
#endif
  } unless {
    atomic { crashreq[p] ->                        /* CRASH: descriptors close */
      if :: T[p] != 0 && L == T[p] -> SET_DH(true) :: else -> skip fi;
      if :: T[p] != 0 && flk[T[p]] == p + 1 -> flk[T[p]] = 0 :: else -> skip fi;
      if :: J[p] != 0 && flk[J[p]] == p + 1 -> flk[J[p]] = 0 :: else -> skip fi;
      if :: inCS[p] -> inCS[p] = false; incs-- :: else -> skip fi;
      KEEP(moved[p]);                              /* a file moved aside stays at its private name */
      T[p] = 0; J[p] = 0; moved[p] = 0; same = false; ok = false; i = 0; k = 0;
      crashreq[p] = false
    }                                              /* restart as a fresh process */
  }
  od
}

#ifdef FOREIGN
/* The reference (or another user's writer): no flock, no checks before deleting
   a lock whose holder is dead; replacing one is a single step here (the widest
   race for a breaker between its checks and its rename). */
active proctype Foreign() {
  byte i, k, rounds;
  bool ok;
  do
  :: atomic {                                      /* create its file at a free L, or replace a dead holder's */
       !fin && rounds < FOREIGN_ROUNDS && (L == 0 || (T[0] != L
#if N > 1
                           && T[1] != L
#endif
#if N > 2
                           && T[2] != L
#endif
                          )) ->
       i = 1;
       do
       :: i > NI -> assert(false)
       :: i <= NI -> inode_free(i, k, ok); if :: ok -> break :: else -> i++ fi
       od;
       F = i; L = F; fin = true; i = 0; k = 0; ok = false; rounds++
     }
  :: atomic { fin ->                               /* release: unlink L if it is still its file */
       assert(!flost);                             /* no RVFLock process removed its live lock */
       if :: L == F -> L = 0 :: else -> skip fi;
       fin = false; F = 0
     }
  od
}
#endif

active proctype Crasher() {
  byte q;
  do
  :: atomic { crashes < MAXCRASH ->
       select(q : 0 .. N - 1);
       if
       :: !crashreq[q] -> crashreq[q] = true; crashes++
       :: else -> skip
       fi;
       q = 0
     }
  :: break
  od
}

init {
  byte n;
  atomic {
    for (n : 0 .. N - 1) { run Proc(n) }
    n = 0
  }
}

#ifdef LIVENESS
ltl dead_holder_taken { [] (dh -> <> (incs > 0)) }
#endif
