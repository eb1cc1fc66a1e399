"""`make chaos`: load through the live stack while its parts fail, and the promises checked after."""
