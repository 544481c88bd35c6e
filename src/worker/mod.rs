//! One way to run a long task: a named thread that reports typed events on a bounded channel
//! and obeys a control channel (pause, resume, cancel). The workbench, the command line and
//! the tests drive the same workers; none of them needs `egui`: a [`Waker`] says "there is
//! something to read" (the workbench repaints, the command line passes [`Waker::none`] and
//! blocks on the events).
//!
//! A task is a closure given a [`Context`]: it [`emit`](Context::emit)s events (waiting while the
//! channel is full, so a slow reader slows the task instead of filling memory), passes
//! [`checkpoint`](Context::checkpoint)s where it may pause or stop, and returns its last event.
//! A panic becomes the last event too ([`Event::panicked`]).
//!
//! The instances: [`train`] (training runs), [`generate`] (datasets), [`inspect`] (opening a
//! model, one image with its descent, a folder), [`eval`] (evaluations), [`preview`] (the
//! workbench's renders), [`files`] (reading and writing what the workbench opens and saves) and
//! [`demo`] (the demo: render, train, calibrate, report).

pub mod ablate;
pub mod demo;
pub mod eval;
pub mod files;
pub mod fit;
pub mod generate;
pub mod inspect;
pub mod preview;
pub mod train;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryIter, TryRecvError, sync_channel};
use std::thread::JoinHandle;

/// Commands a worker obeys at its next checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    /// End at the next checkpoint, tidily (a training run writes its checkpoint first).
    Cancel,
}

/// What a task's checkpoint announces when the worker pauses or goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pausing {
    Paused,
    Resumed,
}

/// The task stopped because it was cancelled, or because nobody reads its events any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// Called after every event a worker sends: the workbench repaints, a test or the command
/// line needs nothing (it blocks on the channel).
#[derive(Clone)]
pub struct Waker(Arc<dyn Fn() + Send + Sync>);

impl Waker {
    pub fn new(wake: impl Fn() + Send + Sync + 'static) -> Self {
        Self(Arc::new(wake))
    }

    /// A waker that does nothing, for readers that block on the events.
    pub fn none() -> Self {
        Self::new(|| {})
    }

    pub fn wake(&self) {
        (self.0)();
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Waker")
    }
}

/// Events of a task. The last event a worker sends says how the task ended; a task that
/// panics ends with [`Event::panicked`].
pub trait Event: Send + 'static {
    fn panicked(message: String) -> Self;
}

/// A one-shot task's only event is its result.
impl<T: Send + 'static> Event for Result<T, String> {
    fn panicked(message: String) -> Self {
        Err(format!("the worker panicked: {message}"))
    }
}

/// Commands buffered before [`Worker::send`] gives up (the task takes them at checkpoints).
const CONTROL_CAPACITY: usize = 8;

/// The handle of a running task: its events, and the control channel. Dropping it cancels the
/// task (which also ends once nobody reads its events).
pub struct Worker<E> {
    name: String,
    events: Receiver<E>,
    control: SyncSender<Control>,
    cancelled: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl<E> Worker<E> {
    /// The thread's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Events in order; the last is the task's outcome, after which the channel disconnects.
    pub fn events(&self) -> &Receiver<E> {
        &self.events
    }

    /// The events waiting now, without blocking (what a UI frame takes).
    pub fn try_iter(&self) -> TryIter<'_, E> {
        self.events.try_iter()
    }

    /// Sends a command; `false` when the task has ended (or too many are waiting).
    pub fn send(&self, command: Control) -> bool {
        if command == Control::Cancel {
            self.cancelled.store(true, Ordering::Relaxed);
        }
        self.control.try_send(command).is_ok()
    }

    pub fn pause(&self) -> bool {
        self.send(Control::Pause)
    }

    pub fn resume(&self) -> bool {
        self.send(Control::Resume)
    }

    /// Asks the task to end at its next checkpoint. Library loops that watch a cancel flag
    /// see it at once, even while the command waits in the channel.
    pub fn cancel(&self) {
        self.send(Control::Cancel);
    }

    /// Whether [`Worker::cancel`] was called (or the task saw its reader go).
    pub fn cancel_requested(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Stops reading (a task still sending ends as cancelled) and waits for the thread.
    pub fn join(mut self) {
        let (_, closed) = sync_channel(0);
        drop(std::mem::replace(&mut self.events, closed));
        if let Some(thread) = self.thread.take() {
            // The thread catches the task's panics and reports them as events.
            let _ = thread.join();
        }
    }
}

impl<E> Drop for Worker<E> {
    fn drop(&mut self) {
        self.send(Control::Cancel);
    }
}

/// The task's side: where it sends events and takes commands.
pub struct Context<E> {
    events: SyncSender<E>,
    control: Receiver<Control>,
    cancelled: Arc<AtomicBool>,
    waker: Waker,
}

impl<E> Context<E> {
    /// Sends an event, waiting while the channel is full (back-pressure). Fails when nobody
    /// reads any more; the task should then end.
    pub fn emit(&mut self, event: E) -> Result<(), Cancelled> {
        if self.events.send(event).is_err() {
            self.cancelled.store(true, Ordering::Relaxed);
            return Err(Cancelled);
        }
        self.waker.wake();
        Ok(())
    }

    /// Whether the task was asked to end (checked without taking commands).
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// The flag [`Worker::cancel`] sets, for library loops that poll an `AtomicBool`.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancelled)
    }

    /// A point where the task may pause or stop: takes waiting commands, and while paused
    /// waits for `Resume` or `Cancel`. Fails when the task should end.
    pub fn checkpoint(&mut self) -> Result<(), Cancelled> {
        self.checkpoint_announcing(|_| None)
    }

    /// [`Context::checkpoint`], sending `announce(Paused)` when the task pauses and
    /// `announce(Resumed)` when it goes on (when they are events).
    pub fn checkpoint_announcing(
        &mut self,
        mut announce: impl FnMut(Pausing) -> Option<E>,
    ) -> Result<(), Cancelled> {
        let mut paused = false;
        loop {
            if self.is_cancelled() {
                return Err(Cancelled);
            }
            let command = if paused {
                self.control.recv().map_err(|_| Cancelled)
            } else {
                match self.control.try_recv() {
                    Ok(command) => Ok(command),
                    Err(TryRecvError::Empty) => return Ok(()),
                    Err(TryRecvError::Disconnected) => Err(Cancelled),
                }
            };
            match command {
                Err(Cancelled) | Ok(Control::Cancel) => {
                    self.cancelled.store(true, Ordering::Relaxed);
                    return Err(Cancelled);
                }
                Ok(Control::Pause) if !paused => {
                    paused = true;
                    if let Some(event) = announce(Pausing::Paused) {
                        self.emit(event)?;
                    }
                }
                Ok(Control::Resume) if paused => {
                    if let Some(event) = announce(Pausing::Resumed) {
                        self.emit(event)?;
                    }
                    return Ok(());
                }
                Ok(Control::Pause | Control::Resume) => {}
            }
        }
    }
}

/// Starts `task` on a thread named `name`, with room for `capacity` unread events. The value
/// the task returns is its last event.
pub fn spawn<E, F>(name: &str, capacity: usize, waker: Waker, task: F) -> std::io::Result<Worker<E>>
where
    E: Event,
    F: FnOnce(&mut Context<E>) -> E + Send + 'static,
{
    let (event_tx, events) = sync_channel(capacity.max(1));
    let (control, control_rx) = sync_channel(CONTROL_CAPACITY);
    let cancelled = Arc::new(AtomicBool::new(false));
    let mut context = Context {
        events: event_tx,
        control: control_rx,
        cancelled: Arc::clone(&cancelled),
        waker,
    };
    let thread = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task(&mut context)));
            let last = outcome.unwrap_or_else(|panic| {
                E::panicked(
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "unknown cause".to_string()),
                )
            });
            // Nobody may be listening any more; then there is no one to tell.
            let _ = context.emit(last);
        })?;
    Ok(Worker {
        name: name.to_string(),
        events,
        control,
        cancelled,
        thread: Some(thread),
    })
}

/// Runs `call` on a thread named `name`: a worker whose only event is the call's result. For
/// the short jobs that must not block the workbench (reading a file, writing one).
pub fn spawn_call<T, F>(
    name: &str,
    waker: Waker,
    call: F,
) -> std::io::Result<Worker<Result<T, String>>>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, String> + Send + 'static,
{
    spawn(name, 1, waker, move |_| call())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    /// Events of the counting task below.
    #[derive(Debug, PartialEq)]
    enum Count {
        Tick(usize),
        Paused(usize),
        Resumed(usize),
        Done { ticks: usize, cancelled: bool },
        Failed(String),
    }

    impl Event for Count {
        fn panicked(message: String) -> Self {
            Self::Failed(message)
        }
    }

    /// Counts to `limit`, one event per tick, with a checkpoint before each; `sent` counts the
    /// events handed to the channel.
    fn counter(limit: usize, capacity: usize, sent: Arc<AtomicUsize>) -> Worker<Count> {
        spawn("test-counter", capacity, Waker::none(), move |ctx| {
            let mut ticks = 0;
            while ticks < limit {
                let at = ticks;
                let announce = |p| {
                    Some(match p {
                        Pausing::Paused => Count::Paused(at),
                        Pausing::Resumed => Count::Resumed(at),
                    })
                };
                if ctx.checkpoint_announcing(announce).is_err() {
                    return Count::Done {
                        ticks,
                        cancelled: true,
                    };
                }
                if ctx.emit(Count::Tick(ticks)).is_err() {
                    break;
                }
                sent.fetch_add(1, Ordering::SeqCst);
                ticks += 1;
            }
            Count::Done {
                ticks,
                cancelled: false,
            }
        })
        .unwrap()
    }

    fn next(worker: &Worker<Count>) -> Count {
        worker
            .events()
            .recv_timeout(Duration::from_secs(60))
            .expect("the worker went silent")
    }

    /// Waits (yielding) until `done` holds; a task that stalls fails the test instead of
    /// hanging it.
    fn wait_for(what: &str, done: impl Fn() -> bool) {
        let give_up = std::time::Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(std::time::Instant::now() < give_up, "stalled: {what}");
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_full_channel_holds_the_task_back() {
        const CAPACITY: usize = 4;
        const LIMIT: usize = 100;
        let sent = Arc::new(AtomicUsize::new(0));
        let worker = counter(LIMIT, CAPACITY, Arc::clone(&sent));
        let mut received = 0;
        loop {
            // The task runs until the channel is full, and no further: it can hand over an
            // event only when the reader has taken one.
            let full = (received + CAPACITY).min(LIMIT);
            wait_for("the task filling the channel", || {
                sent.load(Ordering::SeqCst) >= full
            });
            let handed_over = sent.load(Ordering::SeqCst);
            assert!(
                handed_over <= received + CAPACITY,
                "{handed_over} events handed over with {received} read and room for {CAPACITY}"
            );
            match next(&worker) {
                Count::Tick(i) => {
                    assert_eq!(i, received);
                    received += 1;
                }
                last => {
                    assert_eq!(
                        last,
                        Count::Done {
                            ticks: LIMIT,
                            cancelled: false
                        }
                    );
                    break;
                }
            }
        }
        assert_eq!(received, LIMIT);
    }

    #[test]
    fn cancel_stops_the_task_at_its_next_checkpoint() {
        let sent = Arc::new(AtomicUsize::new(0));
        let worker = counter(usize::MAX, 2, Arc::clone(&sent));
        assert_eq!(next(&worker), Count::Tick(0));
        worker.cancel();
        assert!(worker.cancel_requested());
        // Whatever was already in the channel, then the end: at most the two buffered events
        // and the one waiting in `emit` came after the cancel.
        let mut after = 0;
        let last = loop {
            match next(&worker) {
                Count::Tick(_) => after += 1,
                other => break other,
            }
        };
        assert!(after <= 3, "{after} ticks after the cancel");
        assert!(
            matches!(
                last,
                Count::Done {
                    cancelled: true,
                    ..
                }
            ),
            "{last:?}"
        );
        // The channel then ends: the thread is gone.
        assert!(
            worker
                .events()
                .recv_timeout(Duration::from_secs(60))
                .is_err()
        );
        worker.join();
    }

    #[test]
    fn a_paused_task_waits_and_announces_it() {
        let sent = Arc::new(AtomicUsize::new(0));
        let worker = counter(usize::MAX, 64, Arc::clone(&sent));
        assert!(worker.pause());
        let paused_at = loop {
            match next(&worker) {
                Count::Tick(_) => {}
                Count::Paused(at) => break at,
                other => panic!("unexpected {other:?}"),
            }
        };
        // Paused: the task sent nothing after the announcement.
        let before = sent.load(Ordering::SeqCst);
        assert_eq!(before, paused_at);
        assert!(worker.events().try_recv().is_err());
        assert!(worker.resume());
        assert_eq!(next(&worker), Count::Resumed(paused_at));
        assert_eq!(next(&worker), Count::Tick(paused_at));
        // A paused task also ends when cancelled.
        assert!(worker.pause());
        loop {
            if let Count::Paused(_) = next(&worker) {
                break;
            }
        }
        worker.cancel();
        assert!(matches!(
            next(&worker),
            Count::Done {
                cancelled: true,
                ..
            }
        ));
    }

    #[test]
    fn dropping_the_handle_ends_the_task() {
        let sent = Arc::new(AtomicUsize::new(0));
        let worker = counter(usize::MAX, 1, Arc::clone(&sent));
        assert_eq!(next(&worker), Count::Tick(0));
        let name = worker.name().to_string();
        assert_eq!(name, "test-counter");
        worker.join();
        // The task ended when its reader went: one event read, one in the channel, one
        // waiting in `emit` at most.
        let stopped = sent.load(Ordering::SeqCst);
        assert!(stopped <= 3, "{stopped}");
    }

    #[test]
    fn a_panic_becomes_the_last_event() {
        let worker = spawn("test-panic", 4, Waker::none(), |_: &mut Context<Count>| {
            panic!("on purpose")
        })
        .unwrap();
        assert_eq!(next(&worker), Count::Failed("on purpose".into()));
        let call = spawn_call("test-call", Waker::none(), || Ok::<_, String>(42)).unwrap();
        assert_eq!(call.events().recv().unwrap(), Ok(42));
    }

    #[test]
    fn the_waker_hears_every_event() {
        let woken = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&woken);
        let waker = Waker::new(move || {
            count.fetch_add(1, Ordering::SeqCst);
        });
        let worker = spawn("test-waker", 8, waker, |ctx| {
            for i in 0..3 {
                let _ = ctx.emit(Count::Tick(i));
            }
            Count::Done {
                ticks: 3,
                cancelled: false,
            }
        })
        .unwrap();
        let events: Vec<Count> = worker.events().iter().collect();
        assert_eq!(events.len(), 4);
        assert_eq!(woken.load(Ordering::SeqCst), 4);
    }
}
