//! Leader-only controllers and the control logic behind the API.
