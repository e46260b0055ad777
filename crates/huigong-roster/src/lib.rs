//! Excel import/export in the notice's layouts (work in progress).
