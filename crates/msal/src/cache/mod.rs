//! The token cache. (Being built: see issue 2.)
