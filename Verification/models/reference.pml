/*
 * reference.pml -- Promela model of the REFERENCE lock protocol
 * (../shared/seed/locking.rs beside the repository, see ../shared/docs/PROTOCOL.md). Negative
 * control: spin must find two holders at once.
 *
 *   RA1 "create":  open(L, O_CREAT|O_EXCL) -- succeeds iff L names nothing;
 *                  creates an EMPTY file (record not yet written).
 *   RA2 "write":   write the 104-byte record + fsync through the creator's
 *                  descriptor (into that inode, linked or not any more);
 *                  then the creator believes it holds the lock (CS).
 *                  With -DATOMIC_CREATE, RA1+RA2 are one step (removes
 *                  defect 1, isolating defect 2).
 *   RC1 "read":    EEXIST: open+read L (snapshot of the inode L names).
 *   RC2 "judge":   short/empty -> invalid -> unlink; valid and stale ->
 *                  unlink; valid and live -> "another writer is active"
 *                  (the caller retries). Staleness: the writer is dead
 *                  (ghost marker; the 30 s age is taken as elapsed).
 *   RC3 "unlink":  unlink(L): removes WHATEVER L names now; back to RA1.
 *   RR1 "reread":  release: leave the CS, re-read L, compare writer_id.
 *   RR2 "unlink":  unlink(L) if the writer_id was ours.
 *   crash:         a Crasher raises crashreq[p] (at most MAXCRASH times);
 *                  p dies for good (its lock file stays; it is then stale).
 *   pause:         covered by spin's interleavings.
 *
 * Defect 1 (PROTOCOL.md): RA1 ; contender RC1 sees empty ; RC3 ; RA1 ; RA2 ;
 *   first creator RA2 into the unlinked inode -> two holders. No crash.
 * Defect 2: stale file; two breakers RC1/RC2 judge it stale; the fast one
 *   unlinks, creates and holds; the slow one unlinks the NEW file and also
 *   creates and holds.
 */

#ifndef N
#define N 3
#endif
#ifndef MAXCRASH
#define MAXCRASH 0
#endif
#define NI (N+1)            /* inode pool: one per process + an orphan at L */

byte L = 0;                 /* inode named by the lock path, 0 = none */
bool written[NI+1];         /* record complete in inode i */
byte wid[NI+1];             /* writer id in inode i (p+1), 0 = none */
byte mine[N];               /* creator's open descriptor (inode), 0 = closed */
bool dead[N];               /* ghost: process crashed */
byte incs = 0;              /* ghost: processes believing they hold the lock */
bool inCS[N];
bool crashreq[N];
byte crashes = 0;

proctype Proc(byte p) {
  byte i, k, r;
  bool ok, valid, stale;

  {
    do
    :: atomic { L == 0 ->                          /* RA1 create (O_EXCL) */
         i = 1;
         do
         :: i > NI -> assert(false)
         :: i <= NI ->
            ok = (L != i); k = 0;
            do
            :: k < N -> if :: mine[k] == i -> ok = false :: else -> skip fi; k++
            :: else -> break
            od;
            if :: ok -> break :: else -> i++ fi
         od;
         L = i; mine[p] = i; written[i] = false; wid[i] = 0;
#ifdef ATOMIC_CREATE
         written[i] = true; wid[i] = p + 1;
         incs++; inCS[p] = true; assert(incs <= 1); /* MUTUAL EXCLUSION */
#endif
         i = 0; k = 0; ok = false
       };
#ifndef ATOMIC_CREATE
       atomic { written[mine[p]] = true; wid[mine[p]] = p + 1;  /* RA2 write+fsync */
                incs++; inCS[p] = true;
                assert(incs <= 1) };               /* MUTUAL EXCLUSION */
#endif
       /* critical section */
       atomic { incs--; inCS[p] = false;           /* RR1 leave CS, re-read */
                ok = (L != 0 && written[L] && wid[L] == p + 1) };
       if
       :: atomic { ok -> L = 0; ok = false }       /* RR2 unlink(L) */
       :: else -> skip                             /* foreign: silently ignored */
       fi;
       mine[p] = 0                                 /* close */
    :: atomic { L != 0 ->                          /* RC1 EEXIST: open + read */
         r = L; valid = written[r];
         stale = (valid && dead[wid[r] - 1])
       };
       if
       :: (!valid || stale) ->                     /* RC2 invalid or stale */
          atomic { L = 0; r = 0; valid = false; stale = false }  /* RC3 unlink(L) */
       :: else ->                                  /* RC2 live: busy, retry */
          r = 0; valid = false; stale = false
       fi
    od
  } unless {
    atomic { crashreq[p] ->
      dead[p] = true;                              /* its file (if any) stays at L */
      if :: inCS[p] -> inCS[p] = false; incs-- :: else -> skip fi;
      mine[p] = 0; crashreq[p] = false
    }
  }
}

active proctype Crasher() {
  byte q;
  do
  :: atomic { crashes < MAXCRASH ->
       select(q : 0 .. N - 1);
       if
       :: !crashreq[q] && !dead[q] -> crashreq[q] = true; crashes++
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
