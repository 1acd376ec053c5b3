//! Small executor-agnostic helpers, so the export machinery needs neither
//! tokio's macros nor `futures`.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Runs both futures until one finishes; the other is dropped. `a` is polled
/// first, so it wins a tie.
pub(crate) async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives `future` on the calling thread, parking between wake-ups.
///
/// For the blocking `flush`/`shutdown`: the futures it runs only wait on the
/// worker (which has its own thread and runtime), so this works from plain
/// sync code and even from inside another runtime's task, without the
/// "cannot block inside a runtime" panic of tokio's own `block_on`.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    // Unconstrained: inside a tokio task the coop budget would otherwise run
    // out and, with nobody yielding to the scheduler, never refill.
    let mut future = pin!(tokio::task::unconstrained(future));
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}
