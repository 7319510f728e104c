"""The core's ports over SQL, one module per noun; SqlUnitOfWork (storage.uow) opens them all
on one connection."""
