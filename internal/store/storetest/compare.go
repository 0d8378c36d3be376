package storetest

import (
	"reflect"
	"testing"
	"time"
)

var timeType = reflect.TypeFor[time.Time]()

// canon returns x as a backend may legitimately return it: every time
// truncated to the microsecond and in UTC (the zero time stays zero), and
// every empty slice or map (byte strings included) nil. Comparing the
// canonical forms of what was written and what was read therefore checks
// every field, including fields added later, without tripping over the
// documented precision or over nil versus empty.
func canon[T any](x T) T {
	v := reflect.ValueOf(&x).Elem()
	canonValue(v)
	return x
}

func canonValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(normTime(v.Interface().(time.Time))))
			return
		}
		for i := range v.NumField() {
			canonValue(v.Field(i))
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		// Copy before changing elements: the slice may be the caller's.
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		v.Set(c)
		for i := range c.Len() {
			canonValue(c.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			p := reflect.New(v.Type().Elem())
			p.Elem().Set(v.Elem())
			v.Set(p)
			canonValue(p.Elem())
		}
	}
}

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Microsecond).UTC()
}

// assertEqual checks that got is want as stored (see canon) and that every
// time in got is in UTC.
func assertEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	checkUTC(t, what, reflect.ValueOf(got))
	if g, w := canon(got), canon(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s =\n\t%+v\nwant\n\t%+v", what, g, w)
	}
}

func checkUTC(t *testing.T, what string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == timeType {
			if tm := v.Interface().(time.Time); !tm.IsZero() && tm.Location() != time.UTC {
				t.Errorf("%s: time %v is not in UTC", what, tm)
			}
			return
		}
		for i := range v.NumField() {
			checkUTC(t, what, v.Field(i))
		}
	case reflect.Slice:
		for i := range v.Len() {
			checkUTC(t, what, v.Index(i))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			checkUTC(t, what, v.Elem())
		}
	}
}

// at returns base() moved by d, for readable test times.
func at(d time.Duration) time.Time { return base().Add(d) }
