/*
 * rvflock.pml -- Promela model of the RVF writer lock AS IMPLEMENTED in
 * Swift. See Verification/README.md. Where the steps live (Sources/RVFLock/):
 *   A1-A3  Internal/PreparedLockFile.swift (init), WriterLock+Acquisition.swift prepare()
 *   A4     PreparedLockFile.link(to:), called from WriterLock+Acquisition.swift attempt()
 *   A5     Internal/LockFileExaminer.swift examine(.breakIfStale) + Internal/StalenessJudge.swift
 *          (the implementation checks st_nlink before the flock and re-reads the
 *          record bytes before the unlink: both only add early "changed" exits)
 *   H, R   Internal/HeldLock.swift (beat/verify, release())
 *   Not modelled: examine(.breakEvenIfHeld) (operator's forced break, which by
 *   design ignores the flock) and examine(.inspect) (LOCK_SH, never unlinks).
 *
 * World
 *   L          the lock path: 0 = names no inode, i = names inode i.
 *              Only L can link an inode, so "link count of i > 0" <=> L == i.
 *   flk[i]     flock(LOCK_EX) state of inode i: 0 = free, p+1 = held by an
 *              open file description of process p (exclusive: one holder).
 *   T[p],J[p]  p's open descriptors (inode number, 0 = closed): T = p's own
 *              lock file, J = the judge descriptor opened on L.
 *   An inode is free (and its number reusable, as the kernel does) only when
 *   it is not linked and no descriptor refers to it.
 *   The record inside an inode (owner, timestamp) is always complete in our
 *   implementation and no decision depends on its content on one machine
 *   (flock obtainable => holder dead), so it is not modelled.
 *
 * Mapping Promela step -> implementation step
 *   A1-A3  d_step "A1-A3": O_TMPFILE T (A1), flock(T,EX|NB) succeeds (A2),
 *          write full record + fsync (A3). One step: T is invisible to
 *          everyone else, so any interleaving/crash inside it is equivalent
 *          to one before it (T is just discarded).
 *   A4     "A4 link":  linkat(T -> L) succeeds iff L == 0; P enters the CS.
 *   A4/A5a "A5a open": linkat failed with EEXIST + open(L) -> J. Merged: a
 *          failed linkat has no effect, so "fail, then open what L names
 *          now" == "open what L names now"; if L names nothing at open time
 *          we are back at A4 (the other do-option).
 *   A5b    "A5b flock": flock(J,EX|NB); failure => busy; success => read
 *          record and judge. Same-machine rule: flock obtainable => stale.
 *          With -DJUDGE_MAY_REFUSE the judge may also (nondeterministically)
 *          say "not stale" (e.g. unreadable / other-host record): close J,
 *          busy. Used for the safety run only (it is a back-off, it can only
 *          remove progress).
 *   A5c    "A5c lstat": lstat(L) compare dev/ino with J.
 *   A5d    "A5d fstat": fstat(J).st_nlink > 0.
 *   A5e    "A5e unlink": unlink(L) -- removes WHATEVER L names at that
 *          moment (the model does not assume it is J's inode; it asserts it).
 *   A5f    "A5f close J": releases the flock on the old inode; back to A4.
 *   busy   close J; then either wait (retry from A4 with the same T) or give
 *          up (try-lock failure: close T, start over at A1 later).
 *   H      "H heartbeat": rewrite timestamp in own inode (no path effect),
 *          check L still names T: asserted (never "lost the lock").
 *   R1     "R1 lstat": leave the CS (ghost), lstat(L) == T ? -- asserted
 *          (never "taken over").
 *   R2     "R2 unlink": unlink(L) (asserted to remove exactly T's inode).
 *   R3     "R3 close T": releases the flock on T.
 *   crash  any step: a Crasher process raises crashreq[p] at any time (at
 *          most MAXCRASH times in total); p's `unless` escape then closes all
 *          its descriptors (flocks on T and J are released, nothing is
 *          unlinked: a linked lock file stays on disk) and p restarts as a
 *          fresh process (new id; ids do not matter to the protocol).
 *   pause  needs no modelling: spin explores every interleaving, so a process
 *          may be delayed arbitrarily long between any two steps, keeping its
 *          descriptors and flocks.
 *
 * Properties
 *   mutual exclusion   assert(incs <= 1) on every CS entry, plus
 *                      H / R1 / R2 / A5e assertions (holder never loses L,
 *                      a breaker unlinks exactly the inode it judged).
 *   dead_holder_taken  [] (dh -> <> (incs > 0)): dh is set when a process
 *                      crashes while its inode is linked at L (dead holder);
 *                      checked with weak fairness (pan -a -f).
 *
 * Compile-time switches (spin -D...; see check-models.sh)
 *   N, MAXCRASH          processes (3), total crashes (2)
 *   JUDGE_MAY_REFUSE     a judge holding the flock may still say "not stale"
 *   TRY_GIVE_UP          a busy contender may give up (try-lock) and restart
 *   LIVENESS             ghost dh + the ltl claim
 *   MUTANT_NO_RECHECK, MUTANT_CLOSE_BEFORE_UNLINK   broken variants that
 *                        spin must refute (negative controls of the model)
 */

#ifndef N
#define N 3                 /* processes */
#endif
#ifndef MAXCRASH
#define MAXCRASH 2          /* total crashes (each followed by a restart) */
#endif
#define NI (2*N+1)          /* inode pool: each process holds at most T and J, plus an orphan at L */

byte L = 0;
byte flk[NI+1];             /* index 0 unused */
byte T[N];
byte J[N];
bool inCS[N];
byte incs = 0;              /* ghost: processes in the CS */
bool crashreq[N];
byte crashes = 0;
#ifdef LIVENESS
bool dh = false;            /* ghost: a dead holder's file is at L, not yet re-acquired */
#define SET_DH(v)  dh = v
#else
#define SET_DH(v)  skip      /* ghost only needed for the liveness property */
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
  :: k < N -> if :: (T[k] == i || J[k] == i) -> res = false :: else -> skip fi; k++
  :: else -> break
  od
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

    do
    :: atomic { L == 0 ->                          /* A4 link: success */
         L = T[p]; inCS[p] = true; incs++; SET_DH(false);
         assert(incs <= 1)                         /* MUTUAL EXCLUSION */
       };
       break
    :: atomic { L != 0 -> J[p] = L };              /* A4 EEXIST + A5a open(L) */
       if
       :: atomic { flk[J[p]] == 0 -> flk[J[p]] = p + 1 };  /* A5b flock ok: judged stale */
#ifndef MUTANT_NO_RECHECK
          same = (L == J[p]);                      /* A5c lstat(L) ino == J ino */
          same = same && (L == J[p]);              /* A5d fstat(J) nlink > 0 */
#else
          same = true;                             /* mutant: unlink without re-check */
#endif
          if
          :: atomic { same ->                      /* A5e unlink(L): exactly the judged inode */
               EXACT(L == J[p]); L = 0; same = false }
          :: else -> skip
          fi;
          atomic { flk[J[p]] = 0; J[p] = 0 }       /* A5f close(J) */
#ifdef JUDGE_MAY_REFUSE
       :: atomic { flk[J[p]] == 0 -> J[p] = 0 };   /* A5b flock ok, judged NOT stale: close J */
          goto busy
#endif
       :: atomic { flk[J[p]] != 0 -> J[p] = 0 };   /* A5b flock fails: busy, close J */
busy:
          skip                                     /* wait: retry from A4 */
#ifdef TRY_GIVE_UP
          ;
          if
          :: skip
          :: atomic { flk[T[p]] = 0; T[p] = 0 };   /* try: give up, close T */
             goto start
          fi
#endif
       fi
    od;

    /* critical section */
    assert(L == T[p]);                             /* H heartbeat: still ours */

    atomic { inCS[p] = false; incs--;              /* R1: CS ends, lstat(L) */
             assert(L == T[p]) };                  /*     never "taken over" */
#ifndef MUTANT_CLOSE_BEFORE_UNLINK
    atomic { EXACT(L == T[p]); L = 0 };            /* R2 unlink(L) */
    atomic { flk[T[p]] = 0; T[p] = 0 }             /* R3 close(T) */
#else
    atomic { flk[T[p]] = 0 };                      /* mutant: R3 close(T) first ... */
    atomic { L = 0; T[p] = 0 }                     /* ... then R2 unlink(L) */
#endif
  } unless {
    atomic { crashreq[p] ->                        /* CRASH: descriptors close */
      if :: T[p] != 0 && L == T[p] -> SET_DH(true) :: else -> skip fi;
      if :: T[p] != 0 && flk[T[p]] == p + 1 -> flk[T[p]] = 0 :: else -> skip fi;
      if :: J[p] != 0 && flk[J[p]] == p + 1 -> flk[J[p]] = 0 :: else -> skip fi;
      if :: inCS[p] -> inCS[p] = false; incs-- :: else -> skip fi;
      T[p] = 0; J[p] = 0; same = false; ok = false; i = 0; k = 0;
      crashreq[p] = false
    }                                              /* restart as a fresh process */
  }
  od
}

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
