//! Tokens: the caller's name for a registration, handed back with each event.

/// Associates an event with the registration it belongs to.
///
/// The selector stores the token given to [`Selector::register`](crate::Selector::register)
/// and returns it in every [`Event`](crate::Event) for that fd. `Token(usize::MAX)` and
/// `Token(usize::MAX - 1)` are reserved for the selector's own fds (its wake-up notifier and
/// its timer) and are refused by `register`.
///
/// # Examples
///
/// ```
/// use rselectors::Token;
///
/// let t = Token(7);
/// assert_eq!(usize::from(t), 7);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(pub usize);

impl Token {
    /// The token the selector uses for its own wake-up notifier (kernel-set backends).
    pub(crate) const NOTIFY: Token = Token(usize::MAX);

    /// The token the selector uses for its own sub-millisecond timer.
    pub(crate) const TIMER: Token = Token(usize::MAX - 1);

    /// Whether the selector keeps this token for itself.
    pub(crate) const fn is_reserved(self) -> bool {
        self.0 >= Token::TIMER.0
    }
}

/// ```
/// let t: rselectors::Token = 7.into();
/// assert_eq!(t, rselectors::Token(7));
/// ```
impl From<usize> for Token {
    fn from(value: usize) -> Token {
        Token(value)
    }
}

impl From<Token> for usize {
    fn from(token: Token) -> usize {
        token.0
    }
}
