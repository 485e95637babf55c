//! A caller's callback kept by a builder (progress, delivered, ready): cloned with the
//! builder and shown by `Debug` as `<callback>`, so the builders can derive `Debug`.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A shared callback; call it like the function it holds.
pub(crate) struct Hook<F: ?Sized>(pub(crate) Arc<F>);

impl<F: ?Sized> Clone for Hook<F> {
    fn clone(&self) -> Self {
        Hook(self.0.clone())
    }
}

impl<F: ?Sized> Deref for Hook<F> {
    type Target = F;

    fn deref(&self) -> &F {
        &self.0
    }
}

impl<F: ?Sized> fmt::Debug for Hook<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<callback>")
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Account, Endpoint};
    use crate::probe::Check;

    #[test]
    fn a_builder_with_a_callback_debugs_without_its_secret() {
        let ep = |url: &str| url.parse::<Endpoint>().expect("endpoint");
        let account = Account::new(
            "a@example.com",
            "hunter2-secret",
            ep("smtps://mail.example.com"),
            ep("imaps://mail.example.com"),
        );
        let check = Check::new(account.clone(), account).on_progress(|_| {});
        let shown = format!("{check:?}");
        assert!(shown.contains("progress: Some(<callback>)"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
