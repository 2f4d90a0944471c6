//! `/help`: the fixed command list (§3.5); it starts and ends with a line feed, and `[DATE]`
//! is sent unescaped, exactly as the legacy bot sends it.

use crate::bot::Reply;

pub(crate) const HELP: &str = "\nAvailable commands:\n/start - Subscribe to Fear and Greed Index alerts.\n/stop - Unsubscribe from Fear and Greed Index alerts.\n/now - Get trading signals for all tickers in your watchlist.\n/now TICKER - Get trading signal for a specific ticker (e.g., /now AAPL).\n/watchlist - View your watchlist.\n/watchlist add TICKER - Add ticker to your watchlist (e.g., /watchlist add AAPL).\n/watchlist remove TICKER - Remove ticker from your watchlist (e.g., /watchlist remove SPY).\n/execute TICKER PRICE [DATE] - Record execution of a signal at a specific price (e.g., /execute SPY 400.50). Optionally specify date as YYYY-MM-DD (e.g., /execute SPY 400.50 2024-01-15).\n/executions - View your execution history.\n/executions TICKER - View execution history for a specific ticker (e.g., /executions SPY).\n/help - Show this help message.\n\nNote: Scheduled broadcasts automatically skip US stock market holidays. Manual /now requests on holidays will include a market closed notice.\n";

pub(super) fn apply(reply: &mut Reply) {
    reply.send(HELP);
}
