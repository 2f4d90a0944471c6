//! A scripted stand-in for outbound HTTP: records every request and answers each with a
//! handler the test chooses (by default 200 `{"ok":true}`, as Telegram answers).

use crate::platform::{HttpClient, HttpRequest, HttpResponse, PlatformError};
use async_trait::async_trait;
use std::cell::RefCell;

type Handler = Box<dyn Fn(&HttpRequest) -> Result<HttpResponse, PlatformError>>;

/// Outbound HTTP answered in-process.
pub struct ScriptedHttp {
    handler: RefCell<Handler>,
    sent: RefCell<Vec<HttpRequest>>,
}

impl Default for ScriptedHttp {
    fn default() -> Self {
        Self {
            handler: RefCell::new(Box::new(|_| {
                Ok(HttpResponse {
                    status: 200,
                    body: r#"{"ok":true}"#.into(),
                })
            })),
            sent: RefCell::new(Vec::new()),
        }
    }
}

impl ScriptedHttp {
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers every later request with `handler`.
    pub fn answer_with(
        &self,
        handler: impl Fn(&HttpRequest) -> Result<HttpResponse, PlatformError> + 'static,
    ) {
        *self.handler.borrow_mut() = Box::new(handler);
    }

    /// Every request sent so far, in order.
    pub fn sent(&self) -> Vec<HttpRequest> {
        self.sent.borrow().clone()
    }

    pub fn clear(&self) {
        self.sent.borrow_mut().clear();
    }
}

#[async_trait(?Send)]
impl HttpClient for ScriptedHttp {
    async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, PlatformError> {
        self.sent.borrow_mut().push(request.clone());
        (self.handler.borrow())(request)
    }
}
