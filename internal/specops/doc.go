// Package specops changes an app's spec as the API's operations do
// (submission, parameter patches, retraining, rollouts with revision
// naming, canaries, rollbacks and promotions between environments): pure
// functions on the app's JSON document, with no HTTP, git or other I/O.
//
// An operation only rewrites the document; whether the result is a valid
// app is the workspace loader's verdict, the same as for a spec file, which
// the API asks for after applying the operations of a batch.
package specops
