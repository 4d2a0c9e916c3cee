//! One supervisor for the server's workers and the client's processes.
//!
//! # What it does
//! It forks N children ([`crate::process::fork`]: each dies with its parent, and runs in a
//! session of its own or the parent's), gives each a slot of a [`Board`] to publish its record
//! in, reaps the ones that end (`waitpid(WNOHANG)`, never blocking the parent's tick), starts a
//! replacement when the [`Restart`] policy allows, and stops them all: SIGTERM, a grace period,
//! then SIGKILL. What the children *do* and what their records *mean* is the caller's: a body
//! closure runs in each child, and the parent reads the records back to add them up.
//!
//! # Why the parent only polls
//! Everything here is non-blocking, so the caller's loop stays one loop: sleep a little, reap,
//! read the board, print a tick. A blocking `wait()` would freeze the live line exactly when a
//! child misbehaves.

use std::io;
use std::time::{Duration, Instant};

use bytemuck::Pod;

use crate::process::{self, Exit, Fork, Session};
use crate::shm::Board;

/// When a child that ended gets a replacement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Never: the client's processes each own a fixed slice of the plan.
    Never,
    /// Up to this many times per slot: the server's workers (a worker that keeps dying has a
    /// reason the operator must read, and restarting it for ever would hide it).
    UpTo(u32),
}

/// What became of a child that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not replaced (shutting down, or [`Restart::Never`]); its slot keeps its last record.
    Stays,
    /// A replacement runs in its (cleared) slot.
    Restarted,
    /// It ended more often than the policy allows; its slot stays empty.
    GaveUp { deaths: u32 },
}

/// The restart decision, apart from any process: `restarts` replacements were made for this
/// slot so far.
pub fn decide(policy: Restart, restarts: u32, stopping: bool) -> Outcome {
    match policy {
        _ if stopping => Outcome::Stays,
        Restart::Never => Outcome::Stays,
        Restart::UpTo(max) if restarts >= max => Outcome::GaveUp {
            deaths: restarts + 1,
        },
        Restart::UpTo(_) => Outcome::Restarted,
    }
}

/// A child that ended, with the last record it published.
#[derive(Debug, Clone, Copy)]
pub struct Ended<R> {
    pub index: usize,
    pub pid: i32,
    pub exit: Exit,
    pub last: R,
    pub outcome: Outcome,
}

/// N children and their board.
pub struct Supervisor<R: Pod, C: Pod> {
    board: Board<R, C>,
    /// 0: no child in the slot now.
    pids: Vec<i32>,
    restarts: Vec<u32>,
    session: Session,
    policy: Restart,
}

impl<R: Pod, C: Pod> Supervisor<R, C> {
    pub fn new(children: usize, session: Session, policy: Restart) -> io::Result<Self> {
        Ok(Supervisor {
            board: Board::new(children)?,
            pids: vec![0; children],
            restarts: vec![0; children],
            session,
            policy,
        })
    }

    pub fn board(&self) -> &Board<R, C> {
        &self.board
    }

    /// Slots, running or not.
    pub fn len(&self) -> usize {
        self.pids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pids.is_empty()
    }

    /// Children running now.
    pub fn running(&self) -> usize {
        self.pids.iter().filter(|p| **p > 0).count()
    }

    /// Replacements made in all.
    pub fn restarts(&self) -> u64 {
        self.restarts.iter().map(|r| u64::from(*r)).sum()
    }

    /// Starts one child per slot. `body(i, board)` runs in child `i`; its return value is the
    /// child's exit status. On error the children already started are stopped.
    pub fn spawn_all<F>(&mut self, body: &mut F) -> io::Result<()>
    where
        F: FnMut(usize, &Board<R, C>) -> i32,
    {
        for i in 0..self.len() {
            if let Err(e) = self.spawn(i, body) {
                self.stop_all(Duration::from_secs(5));
                return Err(e);
            }
        }
        Ok(())
    }

    fn spawn<F>(&mut self, i: usize, body: &mut F) -> io::Result<()>
    where
        F: FnMut(usize, &Board<R, C>) -> i32,
    {
        self.board.clear(i);
        match process::fork(self.session)? {
            Fork::Parent { child } => {
                self.pids[i] = child;
                Ok(())
            }
            Fork::Child => {
                let code = body(i, &self.board);
                process::exit_now(code);
            }
        }
    }

    /// Reaps every child that has ended since the last call, without blocking, and replaces the
    /// ones the policy allows (running `body` in the new child).
    pub fn reap<F>(&mut self, stopping: bool, body: &mut F) -> io::Result<Vec<Ended<R>>>
    where
        F: FnMut(usize, &Board<R, C>) -> i32,
    {
        let mut ended = Vec::new();
        while let Some((pid, exit)) = process::reap_any()? {
            let Some(index) = self.pids.iter().position(|p| *p == pid) else {
                continue;
            };
            self.pids[index] = 0;
            let last = self.board.load(index);
            let outcome = decide(self.policy, self.restarts[index], stopping);
            if outcome == Outcome::Restarted {
                self.restarts[index] += 1;
                self.spawn(index, body)?;
            }
            ended.push(Ended {
                index,
                pid,
                exit,
                last,
                outcome,
            });
        }
        Ok(ended)
    }

    /// Sends `sig` to every running child.
    pub fn signal_all(&self, sig: i32) {
        for &pid in self.pids.iter().filter(|p| **p > 0) {
            let _ = process::signal(pid, sig);
        }
    }

    /// SIGTERM to every child, SIGKILL to any still running after `grace`; returns the children
    /// reaped meanwhile that did not exit with status 0.
    pub fn stop_all(&mut self, grace: Duration) -> Vec<(usize, i32, Exit)> {
        self.signal_all(process::SIGTERM);
        let deadline = Instant::now() + grace;
        let mut unclean = Vec::new();
        while self.running() > 0 {
            match process::reap_any() {
                Ok(Some((pid, exit))) => {
                    if let Some(i) = self.pids.iter().position(|p| *p == pid) {
                        self.pids[i] = 0;
                        if exit != Exit::Code(0) {
                            unclean.push((i, pid, exit));
                        }
                    }
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    self.signal_all(process::SIGKILL);
                    if Instant::now() > deadline + Duration::from_secs(2) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        unclean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policy() {
        assert_eq!(decide(Restart::Never, 0, false), Outcome::Stays);
        assert_eq!(decide(Restart::UpTo(3), 0, false), Outcome::Restarted);
        assert_eq!(decide(Restart::UpTo(3), 2, false), Outcome::Restarted);
        assert_eq!(
            decide(Restart::UpTo(3), 3, false),
            Outcome::GaveUp { deaths: 4 }
        );
        // Shutting down: a child killed by the same Ctrl-C is not replaced, whatever the policy.
        assert_eq!(decide(Restart::UpTo(3), 0, true), Outcome::Stays);
    }

    #[test]
    fn a_dead_child_is_replaced_and_its_last_record_kept() {
        let _g = crate::process::fork_lock();
        let mut sup: Supervisor<u64, u64> =
            Supervisor::new(2, Session::Inherit, Restart::UpTo(1)).unwrap();
        // Generation 1 of each slot publishes 10 + i and exits 3; the replacement publishes
        // 20 + i and waits for SIGTERM.
        let mut body = |i: usize, board: &Board<u64, u64>| {
            let gen = board.load_control();
            board.store(i, &(gen * 10 + i as u64));
            if gen == 1 {
                return 3;
            }
            std::thread::sleep(Duration::from_secs(30));
            0
        };
        sup.board().store_control(&1);
        sup.spawn_all(&mut body).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while (0..2).any(|i| sup.board().load(i) != 10 + i as u64) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        sup.board().store_control(&2);
        let mut ended = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while ended.len() < 2 && Instant::now() < deadline {
            ended.extend(sup.reap(false, &mut body).unwrap());
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(ended.len(), 2);
        for e in &ended {
            assert_eq!(e.exit, Exit::Code(3));
            assert_eq!(e.last, 10 + e.index as u64);
            assert_eq!(e.outcome, Outcome::Restarted);
        }
        assert_eq!(sup.running(), 2);
        assert_eq!(sup.restarts(), 2);
        let deadline = Instant::now() + Duration::from_secs(10);
        while (0..2).any(|i| sup.board().load(i) < 20) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!((sup.board().load(0), sup.board().load(1)), (20, 21));
        // SIGTERM's default action ends them: not a clean exit.
        let unclean = sup.stop_all(Duration::from_secs(5));
        assert_eq!(unclean.len(), 2);
        assert_eq!(sup.running(), 0);
    }
}
