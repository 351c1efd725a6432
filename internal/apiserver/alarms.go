package apiserver

import (
	"github.com/slipway-deploy/slipway/internal/alarm"
	"github.com/slipway-deploy/slipway/internal/api"
)

// A group's alarm configuration travels as api.AlarmConfiguration and is kept as alarm.Config.

func alarmsJSON(c alarm.Config) *api.AlarmConfiguration {
	if len(c.Alarms) == 0 {
		return nil
	}
	out := &api.AlarmConfiguration{
		IgnorePollAlarmFailure: c.IgnorePollAlarmFailure,
		Interval:               api.Duration(c.Interval), Timeout: api.Duration(c.Timeout),
	}
	for _, s := range c.Alarms {
		a := api.Alarm{Name: s.Name}
		if p := s.Prometheus; p != nil {
			a.Prometheus = &api.PrometheusAlarm{URL: p.URL, Query: p.Query, Op: string(p.Op), Threshold: p.Threshold, OnNoData: string(p.OnNoData)}
		}
		if cw := s.CloudWatch; cw != nil {
			a.CloudWatch = &api.CloudWatchAlarm{AlarmName: cw.AlarmName, Region: cw.Region, Endpoint: cw.Endpoint, Composite: cw.Composite}
		}
		if h := s.HTTP; h != nil {
			a.HTTP = &api.HTTPAlarm{URL: h.URL, Status: h.Status, BodyContains: h.BodyContains, BodyNotContains: h.BodyNotContains}
		}
		out.Alarms = append(out.Alarms, a)
	}
	return out
}

// alarmsFromJSON reads a group request's alarm configuration; errors name the field to change.
func alarmsFromJSON(in *api.AlarmConfiguration) (alarm.Config, error) {
	if in == nil {
		return alarm.Config{}, nil
	}
	c := alarm.Config{
		IgnorePollAlarmFailure: in.IgnorePollAlarmFailure,
		Interval:               alarm.Duration(in.Interval), Timeout: alarm.Duration(in.Timeout),
	}
	for _, a := range in.Alarms {
		s := alarm.Spec{Name: a.Name}
		if p := a.Prometheus; p != nil {
			s.Prometheus = &alarm.PrometheusQuery{URL: p.URL, Query: p.Query, Op: alarm.Comparison(p.Op), Threshold: p.Threshold, OnNoData: alarm.NoData(p.OnNoData)}
		}
		if cw := a.CloudWatch; cw != nil {
			s.CloudWatch = &alarm.CloudWatchAlarm{AlarmName: cw.AlarmName, Region: cw.Region, Endpoint: cw.Endpoint, Composite: cw.Composite}
		}
		if h := a.HTTP; h != nil {
			s.HTTP = &alarm.HTTPCheck{URL: h.URL, Status: h.Status, BodyContains: h.BodyContains, BodyNotContains: h.BodyNotContains}
		}
		c.Alarms = append(c.Alarms, s)
	}
	if err := c.Validate(); err != nil {
		return alarm.Config{}, invalid("alarm_configuration", "%v", err)
	}
	return c, nil
}
